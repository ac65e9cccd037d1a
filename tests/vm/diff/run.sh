#!/usr/bin/env bash
# vm.diff_<case>: a real Debian fix as a source diff, built by `lpmon build --diff` for the
# older release that lacks it, checked on the host (build report) and in a guest booting
# that release (tests/vm/scenarios/diff_<case>.sh).
#   run.sh LPMON OUT-DIR CASE
#   timens  6.1.192-1's proc_timens_set_offset() check, for 6.1.0-54 (vmlinux)
#   nfsd    6.1.192-3's nfsd4_sequence() fix (CVE-2026-99362), for 6.1.0-56 (module nfsd,
#           loaded after the patch)
#   helper  an edge case: a new static helper called from do_sys_settimeofday64() (static
#           local), for 6.1.0-54 (vmlinux)
#   cmdline612  the cmdline-hide example diff for 6.12.118+deb12 (vmlinux, objtool at link)
#   cumulative  a release of fix units (units/) mixing diffs and fix.c, one CVE excluded
# The release's source, image and -dbg vmlinux are prepared once in lpmon's cache
# (${XDG_CACHE_HOME:-~/.cache}/lpmon/src/RELEASE); later runs build in under a minute.
set -euo pipefail
lpmon=$1 out=$2 case=$3
here=$(cd "$(dirname "$0")" && pwd)
vm=$(cd "$here/.." && pwd)
repo=$(cd "$vm/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
case "$case" in
timens)
  release=6.1.0-54-amd64 name=timens_fix
  build=(--diff "$here/units/timens-nsec/fix.patch")
  expect='[("vmlinux", ["proc_timens_set_offset"], [])]'
  functions='["vmlinux:proc_timens_set_offset"]' cves='[]'
  ;;
nfsd)
  release=6.1.0-56-amd64 name=nfsd_fix
  build=(--diff "$here/units-56/nfsd-sequence/fix.patch")
  expect='[("nfsd", ["nfsd4_sequence"], [])]'
  functions='["nfsd:nfsd4_sequence"]' cves='["CVE-2026-99362"]'
  ;;
helper)
  # An edge case (tests/build/diffs/new-helper.patch): a new static helper called by a
  # function with a static local.
  release=6.1.0-54-amd64 name=helper_fix
  build=(--diff "$repo/tests/build/diffs/new-helper.patch")
  expect='[("vmlinux", ["do_sys_settimeofday64"], ["tz_out_of_range"])]'
  functions='["vmlinux:do_sys_settimeofday64"]' cves='[]'
  ;;
cmdline612)
  # The 6.12 line (optional: QEMU TCG crashes 6.12 guests now and then, docs/kernels.md).
  release=6.12.118+deb12-amd64 name=cmdline612
  build=(--diff "$here/units/cmdline-hide/fix.patch")
  expect='[("vmlinux", ["cmdline_proc_show"], [])]'
  functions='["vmlinux:cmdline_proc_show"]' cves='["CVE-2099-1101"]'
  ;;
cumulative)
  # Release 2 carries all three units; CVE-2099-1101 (cmdline-hide, a diff) is excluded.
  release=6.1.0-54-amd64 name=rel_fixes
  build=(--fixes "$here/units" --version 2 --exclude-cve CVE-2099-1101)
  expect='[("vmlinux", ["proc_timens_set_offset"], [])]'
  functions='["vmlinux:proc_timens_set_offset", "vmlinux:version_proc_show"]'
  cves='["CVE-2099-1102"]' excluded='["CVE-2099-1101"]'
  ;;
*) fail "unknown case $case" ;;
esac
mkdir -p "$out"
excluded=${excluded:-[]}

"$lpmon" build "${build[@]}" --kernel "$release" --name "$name" \
  --output "$out/module" --json >"$out/build.json"
cat "$out/build.json"
# The report names exactly the functions the fix changes, and the CVE of its header.
python3 - "$out/build.json" "$expect" "$functions" "$cves" "$release" "$excluded" <<'PY' || fail "build report"
import ast, json, sys
r = json.load(open(sys.argv[1]))
objs = r["diffs"][0]["objects"]
got = [(o["object"], o["changed_functions"], o["new_functions"]) for o in objs]
assert got == ast.literal_eval(sys.argv[2]), got
assert r["functions"] == json.loads(sys.argv[3]), r["functions"]
assert r["cves_fixed"] == json.loads(sys.argv[4]), r["cves_fixed"]
assert r["target_release"] == sys.argv[5]
assert r["cves_excluded"] == json.loads(sys.argv[6]), r["cves_excluded"]
assert any("functions identical to" in n for n in r["diffs"][0]["notes"]), r["diffs"][0]["notes"]
print("build report:", r["functions"], r["cves_fixed"], "; the object built as shipped reproduces the release")
PY

cache=$("$repo/scripts/kernel-source.sh" --release "$release")
modules="$cache/kernel/root/lib/modules/$release"
extra=()
case "$case" in
timens | cumulative)
  gcc -O2 -Wall -o "$out/timens_probe" "$here/timens_probe.c"
  extra=(--bin "$out/timens_probe")
  ;;
helper)
  gcc -O2 -Wall -o "$out/tz_probe" "$here/tz_probe.c"
  extra=(--bin "$out/tz_probe")
  ;;
nfsd)
  # nfsd's dependencies load at boot; nfsd itself only after the patch.
  for m in sunrpc grace lockd nfs_acl auth_rpcgss; do extra+=(--kernel-module "$m"); done
  extra+=(--kmod "$modules/kernel/fs/nfsd/nfsd.ko")
  ;;
esac
"$vm/mkinitramfs.sh" --out "$out/initramfs.cpio" --guest-dir "$vm/guest" \
  --kernel-root "$cache/kernel/root" --release "$release" \
  --kmod "$out/module/$name.ko" --bin "$lpmon" "${extra[@]}"
exec "$vm/run-guest.sh" --name "diff_$case" --kernel "$cache/kernel/vmlinuz" \
  --initramfs "$out/initramfs.cpio" --scenario "$vm/scenarios/diff_$case.sh" \
  --out "$out/vm" --timeout "${LPMON_VM_TIMEOUT:-240}"
