#!/usr/bin/env bash
# tests/vm/scan-kernel-log.sh on kernel logs captured from real guests (tests/honesty/
# kernel-logs): clean-*.txt must pass (livepatch's own refusals are not kernel problems),
# bad-*.txt must fail, and name what it found (the first line of bad-*.expect).
# usage: scan_kernel_log_test.sh SCANNER LOG_DIR
set -uo pipefail
scanner=$1 dir=$2
failed=0 n=0
for log in "$dir"/clean-*.txt; do
  n=$((n + 1))
  if out=$("$scanner" "$log" 2>&1); then
    echo "ok: $(basename "$log"): clean"
  else
    echo "FAIL: $(basename "$log") is a clean log, the scanner said:"
    echo "$out"
    failed=1
  fi
done
for log in "$dir"/bad-*.txt; do
  n=$((n + 1))
  expect=$(head -n 1 "${log%.txt}.expect")
  out=$("$scanner" "$log" 2>&1)
  rc=$?
  if [ "$rc" -ne 1 ]; then
    echo "FAIL: $(basename "$log"): the scanner exited $rc, expected 1"
    failed=1
  elif ! grep -qF -- "$expect" <<<"$out"; then
    echo "FAIL: $(basename "$log"): the scanner's report lacks '$expect':"
    echo "$out"
    failed=1
  else
    echo "ok: $(basename "$log"): found '$expect'"
  fi
done
# A missing log (a guest that died before its dmesg) is no finding by itself.
if "$scanner" "$dir/does-not-exist.txt" >/dev/null 2>&1; then echo "ok: a missing log is skipped"; else
  echo "FAIL: a missing log failed the scan"; failed=1; fi
[ "$n" -ge 3 ] || { echo "FAIL: only $n logs in $dir"; failed=1; }
exit "$failed"
