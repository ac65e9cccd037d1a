#!/usr/bin/env bash
# lpmon gate, as a rollout pipeline runs it between waves, against the host's real Prometheus
# scraping lpmon-exporter in the 6.1 guest: it passes while v1 (applied by lpmon apply) is in
# place, and fails while v2's transition is stalled by tasks parked in the function it
# replaces. The guest waits at each wave until this script tells it to go on.
# usage: LPMON=path/to/lpmon gate_guest.sh RUN_GUEST_ARGS... (all run-guest.sh needs but
# --forward/--file)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lpmon=${LPMON:?the lpmon binary to run the gate with}
. "$here/lib.sh"
host_driver_start
out=$(guest_out_dir "$@")
rm -rf "$out" # the last run's log would answer wait_guest before this guest has booted
exporter_port=$(free_port)
control_port=$(free_port)
make_exporter_tls
start_prometheus "$(free_port)" "$exporter_port"
prometheus_url=${api%/api/v1}

# shellcheck disable=SC2046 # word splitting of the file arguments is wanted
"$here/../run-guest.sh" "$@" --forward "$exporter_port:9812" --forward "$control_port:7000" \
  $(guest_files_args) &
guest_pid=$!
host_pids+=("$guest_pid")

# wait_guest TEXT: until the guest's output has TEXT (a fixed string), or it ended.
wait_guest() {
  for _ in $(seq 3000); do
    grep -qF "$1" "$out/result.log" 2>/dev/null && return 0
    kill -0 "$guest_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: the guest never printed '$1'"
  exit 1
}

# tell_guest WORD: send WORD to host_says in the guest until it has heard it.
tell_guest() {
  local heard
  heard=$(grep -cF "the host said $1" "$out/result.log" || true)
  for _ in $(seq 300); do
    { printf '%s\n' "$1" >"/dev/tcp/127.0.0.1/$control_port"; } 2>/dev/null || true
    sleep 0.2
    [ "$(grep -cF "the host said $1" "$out/result.log" || true)" -gt "$heard" ] && return 0
  done
  echo "FAIL: the guest did not hear '$1'"
  exit 1
}

failed=0
# gate PATCH EXPECTED-EXIT WHAT
gate() {
  local rc=0
  "$lpmon" gate "$here/wave-gate.yaml" --prometheus "$prometheus_url" \
    --arg "instance=127.0.0.1:$exporter_port" --arg "patch=$1" --timeout 2m \
    --json >"$work/gate-$1.json" 2>"$work/gate-$1.err" || rc=$?
  if [ "$rc" -eq "$2" ]; then
    echo "ok: $3: lpmon gate exit $rc"
  else
    echo "FAIL: $3: lpmon gate exit $rc, expected $2"
    cat "$work/gate-$1.err"
    failed=1
  fi
  cp "$work/gate-$1.json" "$out/gate-$1.json"
}

wait_guest "wave ready: good"
gate lpmon_fixes_v1 0 "v1 applied: the wave's gate passes"
tell_guest next

wait_guest "wave ready: stalled"
# The stall must be visible before the gate can judge it: a scrape with v2 in transition.
for _ in $(seq 100); do
  [ "$(value "max(lpmon_patch_in_transition{patch=\"lpmon_fixes_v2\"})")" = 1 ] && break
  sleep 0.2
done
gate lpmon_fixes_v2 1 "v2 stalled: the wave's gate fails"
if python3 -c '
import json, sys
report = json.load(open(sys.argv[1]))
failed = [c for c in report["checks"] if c["phase"] == "Failed"]
sys.exit(0 if [c["name"] for c in failed] == ["transition-finished"] else 1)' "$work/gate-lpmon_fixes_v2.json"; then
  echo "ok: the failed check is transition-finished"
else
  echo "FAIL: the failed check is not transition-finished"
  failed=1
fi
tell_guest next

guest_rc=0
wait "$guest_pid" || guest_rc=$?
[ "$guest_rc" -eq 0 ] && [ "$failed" -eq 0 ]
