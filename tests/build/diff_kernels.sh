#!/usr/bin/env bash
# lpmon build --kernel A --kernel B: one module per release in one run, each compiled from
# its own release's Debian source and carrying that release's vermagic (issue 16).
# usage: diff_kernels.sh LPMON UNITS-DIR [RELEASE...] (default 6.1.0-54 and 6.1.0-56)
set -euo pipefail
lpmon=$1 units=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(6.1.0-54-amd64 6.1.0-56-amd64)

kernels=()
for release in "${releases[@]}"; do kernels+=(--kernel "$release"); done
"$lpmon" build --diff "$units/cmdline-hide/fix.patch" "${kernels[@]}" --name cmdline_hide \
  --output "$work/out" --json >"$work/build.json"
python3 - "$work/build.json" "${releases[@]}" <<'PY' || fail "build report"
import json, sys
reports = json.load(open(sys.argv[1]))
reports = [reports] if isinstance(reports, dict) else reports  # one release: one report
assert [r["target_release"] for r in reports] == sys.argv[2:], reports
for r in reports:
    assert r["functions"] == ["vmlinux:cmdline_proc_show"], r["functions"]
    assert r["cves_fixed"] == ["CVE-2099-1101"], r["cves_fixed"]
    # One release: the module is OUT/NAME.ko; several: OUT/RELEASE/NAME.ko.
    where = "/" + r["target_release"] if len(reports) > 1 else "/out"
    assert r["module"].endswith(where + "/cmdline_hide.ko"), r["module"]
print("one report and one module per release")
PY
for release in "${releases[@]}"; do
  ko="$work/out/$release/cmdline_hide.ko"
  [ ${#releases[@]} -gt 1 ] || ko="$work/out/cmdline_hide.ko"
  vermagic=$(modinfo -F vermagic "$ko")
  case "$vermagic" in "$release "*) echo "ok: $release: vermagic $vermagic" ;;
  *) fail "$ko has vermagic '$vermagic'" ;; esac
  [ "$(modinfo -F lpmon_target_release "$ko")" = "$release" ] || fail "$ko: lpmon_target_release"
done
