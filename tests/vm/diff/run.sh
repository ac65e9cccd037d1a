#!/usr/bin/env bash
# vm.diff_timens: a real Debian fix as a source diff, built by `lpmon build --diff` for
# the older release that lacks it (6.1.0-54-amd64), checked on the host (build report) and
# in a guest booting that release (tests/vm/scenarios/diff_timens.sh).
#   run.sh LPMON OUT-DIR
# The release's source, image and -dbg vmlinux are prepared once in lpmon's cache
# (${XDG_CACHE_HOME:-~/.cache}/lpmon/src/6.1.0-54-amd64); later runs build in seconds.
set -euo pipefail
lpmon=$1 out=$2
release=6.1.0-54-amd64
here=$(cd "$(dirname "$0")" && pwd)
vm=$(cd "$here/.." && pwd)
repo=$(cd "$vm/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$out"

"$lpmon" build --diff "$here/timens-nsec.patch" --kernel "$release" --name timens_fix \
  --output "$out/module" --json >"$out/build.json"
cat "$out/build.json"
# The report names exactly the function the fix changes, in vmlinux.
python3 - "$out/build.json" <<'PY' || fail "build report"
import json, sys
r = json.load(open(sys.argv[1]))
objs = r["diffs"][0]["objects"]
assert [(o["object"], o["changed_functions"], o["new_functions"]) for o in objs] == \
    [("vmlinux", ["proc_timens_set_offset"], [])], objs
assert r["functions"] == ["vmlinux:proc_timens_set_offset"], r["functions"]
assert r["target_release"] == "6.1.0-54-amd64"
assert any("identical to vmlinux" in n for n in r["diffs"][0]["notes"]), r["diffs"][0]["notes"]
print("build report: vmlinux:proc_timens_set_offset only; original object reproduces the release")
PY

cache=$("$repo/scripts/kernel-source.sh" --release "$release")
gcc -O2 -Wall -o "$out/timens_probe" "$here/timens_probe.c"
"$vm/mkinitramfs.sh" --out "$out/initramfs.cpio" --guest-dir "$vm/guest" \
  --kernel-root "$cache/kernel/root" --release "$release" \
  --kmod "$out/module/timens_fix.ko" --bin "$lpmon" --bin "$out/timens_probe"
exec "$vm/run-guest.sh" --name diff_timens --kernel "$cache/kernel/vmlinuz" \
  --initramfs "$out/initramfs.cpio" --scenario "$vm/scenarios/diff_timens.sh" \
  --out "$out/vm" --timeout "${LPMON_VM_TIMEOUT:-240}"
