#!/usr/bin/env bash
# Boots one guest five times with the same virtio disk as its patch store (tests/vm/
# scenarios/store_reboot.sh, one phase per boot), and measures how long after the kernel
# started lpmon boot made the patch level active, against when the boot step started.
# usage: reboots.sh RUN_GUEST_ARGS... (as run-guest.sh; --out is the parent of each boot's)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
args=() out=
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=$2; shift 2 ;;
  *) args+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || { echo "reboots.sh: --out is required" >&2; exit 2; }
command -v mkfs.ext4 >/dev/null || { echo "reboots.sh: mkfs.ext4 not found (package e2fsprogs)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
disk=$out/store.img
truncate -s 64M "$disk"
mkfs.ext4 -q -F -L lpmon-store "$disk"

failed=0
# boot PHASE [EXTRA-KERNEL-ARGS]: one boot of the guest with the disk.
boot() {
  local phase=$1 append="lpmon_test.phase=$1 ${2:-}"
  echo "=== boot: $phase"
  "$here/../run-guest.sh" "${args[@]}" --out "$out/$phase" --append "$append" \
    -- -drive "file=$disk,if=virtio,format=raw,cache=writeback"
}
expect_pass() { boot "$@" || { echo "FAIL: boot $1"; failed=1; }; }

expect_pass install
expect_pass reboot
expect_pass disabled "lpmon.disable=1"
# The crash boot has no verdict by design: the guest resets in the middle of the load.
if boot crash; then
  echo "FAIL: the crash boot passed: the guest did not reset mid-load"; failed=1
elif ! grep -q "ok: v2's transition stalled on the parked tasks" "$out/crash/result.log" ||
  grep -q '^FAIL' "$out/crash/result.log"; then
  echo "FAIL: the crash boot failed before lpmon boot's load stalled"; failed=1
else
  echo "ok: the guest reset in the middle of lpmon boot's load"
fi
expect_pass skipped

if [ -f "$out/reboot/artifacts/timing.txt" ]; then
  echo "timing (guest uptime, s): $(cat "$out/reboot/artifacts/timing.txt")"
fi
[ "$failed" -eq 0 ] && echo "vm store reboots: PASS" || echo "vm store reboots: FAIL"
exit "$failed"
