# shellcheck shell=bash disable=SC2034
# Checks for host-side test scripts (guest scenarios have tests/vm/guest's lib.sh): each
# records a failure and goes on, so one run shows every broken check; the script ends
# with `exit $failed`.
failed=0
ok() { echo "ok: $*"; }
bad() {
  echo "FAIL: $*"
  failed=1
}
# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
  if [ "$1" = "$2" ]; then ok "$3 ($1)"; else bad "$3: got '$1', expected '$2'"; fi
}
