#!/usr/bin/env bash
# Driver of vm.kernel_warning_detected: runs run-guest.sh with its arguments, on a scenario
# that passes its own checks while the guest kernel WARNs, and passes only when run-guest.sh
# failed it for the kernel's report (and for nothing else).
# usage: expect_kernel_problem.sh RUN_GUEST_ARGS...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
output=$("$here/run-guest.sh" "$@" 2>&1)
rc=$?
printf '%s\n' "$output"
fail() { echo "FAIL: $*"; exit 1; }
[ "$rc" -eq 1 ] || fail "run-guest.sh exited $rc on a kernel WARNING, expected 1"
grep -q '^== scenario exit 0' <<<"$output" || fail "the scenario itself did not pass: the test proves nothing"
grep -q 'the guest kernel reported a problem' <<<"$output" || fail "run-guest.sh failed, but not for the kernel's report"
grep -q 'WARNING:' <<<"$output" || fail "run-guest.sh did not show the WARNING"
grep -q 'tainted .*W' <<<"$output" || fail "run-guest.sh did not flag the W taint"
echo "ok: run-guest.sh failed the scenario for the kernel's WARNING and its taint"
