#!/usr/bin/env bash
# Everything from a fresh Debian 12 machine to every test passing: set-up, build, then
# CTest over unit tests, benchmarks (short runs), lint, and the guest scenarios in each test
# kernel: 6.1 and 6.12 (vm.NAME@6.1, vm.NAME@6.12; LPMON_KERNEL_LINES=6.1 for one line; CTest's
# label summary gives the time per kernel-<line> label). Extra arguments go to ctest (e.g.
# -L unit, -R vm.sample, -L kernel-6.12).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
timed() {
  local what=$1 start
  shift
  start=$(date +%s)
  "$@"
  echo "== $what took $(($(date +%s) - start)) s"
}

step "set-up (packages and the test kernel)"
timed set-up scripts/setup.sh
step "build"
# Every suite must be registered: a missing prerequisite stops the configure (TestSuites.cmake).
timed configure cmake --preset default -DLPMON_REQUIRE_ALL_TESTS=ON >/dev/null
timed build cmake --build --preset default
step "tests"
results=build/Testing/lpmon-junit.xml
rm -f "$results"
start=$(date +%s)
ctest_rc=0
ctest --preset default --output-junit "$PWD/$results" "$@" || ctest_rc=$?
echo "== tests took $(($(date +%s) - start)) s"
# Every registered test (of those asked for) ran and passed: none skipped, none missing.
step "check: every registered test ran"
ctest --preset default --show-only=json-v1 "$@" >build/Testing/lpmon-registered.json
expect=()
# Each kernel line asked for has its guest tests (kernel-6.1, kernel-6.12), unless ABIs are pinned.
lines=${LPMON_KERNEL_LINES:-6.1,6.12} kernel_labels=
[ -n "${LPMON_KERNEL_ABI:-}" ] || kernel_labels=",kernel-${lines//,/,kernel-}"
[ $# -eq 0 ] && expect=(--expect-labels "unit,bench,lint,build,gate,dashboards,vm,verify,fleet,fuzz,exporter,packaging$kernel_labels")
check_rc=0
scripts/check-test-run.py --registered build/Testing/lpmon-registered.json --junit "$results" \
  "${expect[@]}" || check_rc=$?
[ "$ctest_rc" -eq 0 ] && [ "$check_rc" -eq 0 ]
