#!/usr/bin/env bash
# lpmon verify's tests (tests/verify/CMakeLists.txt): verify_test.sh MODE LPMON OUT-DIR ARGS...
#   sample PATCH TARGET.ko [RELEASE]  the sample patch set passes, every function called both
#                                ways; RELEASE: the kernel verify must have booted
#   warn PATCH VMLINUZ MODULES WORKLOAD   a replacement that WARNs fails, the warning in the
#                                report; a user workload runs instead of the default
#   refusals OTHER.ko OTHER-REL NOT-LIVEPATCH.ko VMLINUZ   refused before boot, distinct codes
#   chromium CHECKER             the sample's HTML report renders its charts in Chromium
set -euo pipefail
mode=$1 lpmon=$2 out=$3
shift 3
mkdir -p "$out"
# verify's cache (fetched kernels, guest work dirs) stays in the build tree.
export XDG_CACHE_HOME="$out/cache"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() { echo "ok: $*"; }
# Debian's python3 (with python3-pil), not another one first on PATH.
python=/usr/bin/python3
[ -x $python ] || python=python3
field() { $python -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# run NAME ARGS...: lpmon verify ARGS --json, stdout to NAME.json, stderr to NAME.err; sets rc
run() {
  local name=$1 start
  shift
  start=$(date +%s)
  set +e
  "$lpmon" verify "$@" --json >"$out/$name.json" 2>"$out/$name.err"
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  echo "lpmon verify $* -> exit $rc in $elapsed s"
  sed 's/^/  stderr| /' "$out/$name.err"
}

case $mode in
sample)
  patch=$1 target=$2 release=${3:-}
  run sample "$patch" --load-module "$target" --bake 5s --report "$out/sample.html"
  [ "$rc" -eq 0 ] || { cat "$out/sample.json"; fail "the sample patch set: exit $rc, expected 0"; }
  ok "exit 0"
  r=$out/sample.json
  [ "$(field "$r" 'r["verdict"]')" = Successful ] || fail "verdict"
  [ "$(field "$r" 'r["loaded"] and r["transitioned"]')" = True ] || fail "loaded and transitioned"
  [ "$(field "$r" 'r["kernel"]["source"]')" = "package linux-image-$(field "$r" 'r["kernel"]["release"]')" ] ||
    fail "the kernel is not the package of the module's release"
  ok "booted $(field "$r" 'r["kernel"]["source"]') under $(field "$r" 'r["kernel"]["accel"]')"
  if [ -n "$release" ]; then
    [ "$(field "$r" 'r["kernel"]["release"]')" = "$release" ] ||
      fail "booted $(field "$r" 'r["kernel"]["release"]'), expected the module's kernel $release"
    ok "booted $release, the kernel the module was built for"
  fi
  [ "$(field "$r" 'r["transition"]["duration_seconds"] > 0')" = True ] || fail "transition duration"
  # The sample set replaces 5 functions (vmlinux and lpmon_target): each was called unpatched
  # and patched, and its cost measured both ways.
  n=$(field "$r" 'len(r["calls"])')
  [ "$n" -ge 5 ] || fail "$n patched functions in the report, expected 5"
  called=$(field "$r" 'sum(1 for f in r["calls"] if f["unpatched"]["calls"] > 0 and f["patched"]["calls"] > 0 and f["unpatched"]["mean_ns"] and f["patched"]["mean_ns"])')
  [ "$called" = "$n" ] || fail "only $called of $n functions called and timed in both phases"
  ok "$n functions called and timed unpatched and patched"
  [ "$(field "$r" 'len(r["kernel_warnings"])')" = 0 ] || fail "kernel warnings"
  [ "$(field "$r" 'r["revert"]["clean"] and r["unload"]["clean"]')" = True ] || fail "revert/unload"
  [ "$(field "$r" '"K" in r["taint"]["end_letters"] and not r["taint"]["unexpected_flags"]')" = True ] ||
    fail "taint: K expected, nothing unexpected"
  [ "$(field "$r" 'len(r["timeline"]["transitions"])')" = 2 ] || fail "timeline: 2 transitions"
  ok "clean revert and unload; 2 transitions on the timeline"
  [ "$(field "$r" '"lpmon_patch_enabled{patch=\"lpmon_fixes_v2\"} 1" in r["exporter_metrics"]')" = True ] ||
    fail "the exporter in the guest did not show the patch enabled"
  ok "the exporter in the guest showed the patch enabled"
  grep -q '<svg id="timeline"' "$out/sample.html" || fail "HTML report has no timeline"
  grep -q 'lpmon verify: baking' "$out/sample.err" || fail "no progress on stderr"
  ;;
warn)
  patch=$1 kernel=$2 modules=$3 workload=$4
  run warn "$patch" --kernel "$kernel" --modules "$modules" --workload "$workload" --bake 2s \
    --report "$out/warn.html"
  [ "$rc" -eq 1 ] || { cat "$out/warn.json"; fail "a warning replacement: exit $rc, expected 1"; }
  r=$out/warn.json
  [ "$(field "$r" 'r["verdict"]')" = Failed ] || fail "verdict"
  [ "$(field "$r" 'r["transitioned"]')" = True ] || fail "it did transition"
  field "$r" '"\n".join(r["kernel_warnings"])' >"$out/warn.warnings"
  grep -q 'WARNING:' "$out/warn.warnings" || fail "no WARNING in the report"
  grep -q 'warn_cmdline_proc_show' "$out/warn.warnings" || fail "the warning does not name the replacement"
  ok "the warning is in the report: $(head -n 1 "$out/warn.warnings")"
  [ "$(field "$r" '"warn" in r["taint"]["unexpected_flags"]')" = True ] || fail "taint W not reported"
  grep -q 'warn_cmdline_proc_show' "$out/warn.html" || fail "the warning is not in the HTML report"
  ok "Failed, taint W, warning in JSON and HTML"
  # The user's workload ran in place of the default: exactly its 20 calls in each phase.
  [ "$(field "$r" 'r["workload"]')" = "$workload" ] || fail "the report does not name the workload"
  counts=$(field "$r" '[(f["unpatched"]["calls"], f["patched"]["calls"]) for f in r["calls"]]')
  [ "$counts" = "[(20, 20)]" ] || fail "calls of cmdline_proc_show unpatched, patched: $counts, expected 20 each"
  ok "--workload ran: 20 calls unpatched, 20 patched"
  ;;
refusals)
  other=$1 other_release=$2 not_livepatch=$3 kernel=$4
  export XDG_CACHE_HOME="$out/cache-refusals"
  rm -rf "$XDG_CACHE_HOME"
  run other "$other"
  [ "$rc" -eq 11 ] || fail "another kernel's patch: exit $rc, expected 11"
  grep -q "was built for $other_release" "$out/other.err" || fail "message does not name $other_release"
  [ ! -e "$XDG_CACHE_HOME/lpmon" ] || fail "something was fetched or prepared: $(ls -R "$XDG_CACHE_HOME")"
  ok "another kernel's patch refused (11): $(cat "$out/other.err")"
  run other-kernel "$other" --kernel "$kernel"
  [ "$rc" -eq 11 ] || fail "another kernel's patch with --kernel: exit $rc, expected 11"
  ok "... against --kernel: $(cat "$out/other-kernel.err")"
  release=$(basename "$(dirname "$(readlink -f "$kernel")")")
  run other-package "$other" --kernel-package "linux-image-$release"
  [ "$rc" -eq 11 ] || fail "another kernel's patch with --kernel-package: exit $rc, expected 11"
  ok "... against --kernel-package: $(cat "$out/other-package.err")"
  run not-livepatch "$not_livepatch"
  [ "$rc" -eq 10 ] || fail "not a livepatch: exit $rc, expected 10"
  ok "a plain module refused (10)"
  run missing "$out/no-such.ko"
  [ "$rc" -eq 7 ] || fail "missing file: exit $rc, expected 7"
  printf 'checks:\n  - name: x\n    local:\n      kind: noSuchCheck\n' >"$out/bad-gate.yaml"
  run bad-gate "$other" --gate "$out/bad-gate.yaml"
  [ "$rc" -eq 6 ] || fail "bad gate file: exit $rc, expected 6"
  run bad-option "$other" --no-such-option
  [ "$rc" -eq 6 ] || fail "bad option: exit $rc, expected 6"
  ok "missing file (7), bad gate (6), bad option (6)"
  "$lpmon" verify --help | grep -q ' 11  the module was built for another kernel' || fail "--help lacks the exit codes"
  ;;
chromium)
  checker=$1
  html=$out/sample.html
  [ -f "$html" ] || fail "$html is missing: verify.sample writes it"
  command -v chromium >/dev/null || fail "chromium is not installed (scripts/setup.sh installs it)"
  profile=$(mktemp -d)
  trap 'rm -rf "$profile"' EXIT
  rm -f "$out/sample.png"
  # No network: the page must render from itself alone.
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --screenshot="$out/sample.png" --window-size=1200,2000 \
    "file://$html" >"$out/chromium.log" 2>&1 || true
  [ -s "$out/sample.png" ] || { cat "$out/chromium.log"; fail "chromium wrote no screenshot"; }
  $python "$checker" "$out/sample.png"
  ;;
*) fail "unknown mode $mode" ;;
esac
