#!/usr/bin/env bash
# systemd's own check of deploy/systemd/lpmon-boot.service (systemd-analyze verify): syntax,
# dependencies, and that ExecStart runs lpmon boot. The unit names /usr/local/bin/lpmon (the
# packages rewrite it to /usr/bin); here it is the build's lpmon, which must accept `boot --help`.
# usage: verify_boot_unit.sh UNIT LPMON
set -euo pipefail
unit=$1 lpmon=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found (package systemd)" >&2; exit 1; }
grep -qx 'ExecStart=/usr/local/bin/lpmon boot' "$unit" || { echo "FAIL: $unit does not run /usr/local/bin/lpmon boot" >&2; exit 1; }
grep -qx 'Before=network-pre.target sysinit.target shutdown.target' "$unit" ||
  { echo "FAIL: $unit is not ordered before network-pre.target" >&2; exit 1; }
"$lpmon" boot --help | grep -q 'lpmon.disable=1' || { echo "FAIL: lpmon boot --help" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#^ExecStart=/usr/local/bin/lpmon #ExecStart=$lpmon #" "$unit" >"$work/lpmon-boot.service"
if ! systemd-analyze verify "$work/lpmon-boot.service" >"$work/out" 2>&1 || [ -s "$work/out" ]; then
  echo "FAIL: systemd-analyze verify:" >&2
  cat "$work/out" >&2
  exit 1
fi
echo "ok: systemd-analyze verify $(basename "$unit")"
