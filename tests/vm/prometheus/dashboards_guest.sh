#!/usr/bin/env bash
# The dashboards against real data: the host's Prometheus, loaded with dashboards/rules,
# scrapes lpmon-exporter in the 6.1 guest while scenarios/dashboards.sh applies, holds,
# reverses and reverts patches. Then every panel query of dashboards/*.json (variables
# substituted) must return data from that Prometheus, every rule must evaluate without
# error, no alert may fire on this healthy host, and every metric name in the boards and
# rules must be in a scrape taken mid-transition (which also keeps
# dashboards/tests/guest-metrics.txt honest).
# usage: dashboards_guest.sh RUN_GUEST_ARGS...   env: LPMON_PROMQL_METRICS (the name parser)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dash=$(cd "$here/../../../dashboards" && pwd)
promql_metrics=${LPMON_PROMQL_METRICS:?set LPMON_PROMQL_METRICS to the built promql-metrics}
. "$here/lib.sh"
host_driver_start
out=$(guest_out_dir "$@")
exporter_port=$(free_port)
make_exporter_tls
rules=("$dash/rules/lpmon.rules.yml" "$dash/rules/lpmon-expected.rules.yml")
start_prometheus "$(free_port)" "$exporter_port" "${rules[@]}"
start=$(date +%s)

# A scrape taken while v2's transition is held, once the calls were counted: every family
# the exporter has then has samples.
keep_scrape "$work/mid-transition.txt" '^lpmon_transition_in_progress_seconds{' \
  '^lpmon_transition_blocked_tasks{' '^lpmon_transitions_total{' \
  '^lpmon_patched_function_calls_total{' '^lpmon_bpf_program_runs_total{'

# shellcheck disable=SC2046 # word splitting of the file arguments is wanted
"$here/../run-guest.sh" "$@" --forward "$exporter_port:9812" $(guest_files_args)
kill "$scraper_pid"
sleep 3 # the rules' last evaluations
end=$(date +%s)
window="$((end - start))s"

failed=0
echo "--- rules evaluated by Prometheus"
curl -sf "$api/rules" | /usr/bin/python3 -c '
import json, sys
bad = 0
groups = json.load(sys.stdin)["data"]["groups"]
for g in groups:
    for r in g["rules"]:
        if r["health"] != "ok":
            print("FAIL: rule", r["name"], r["health"], r.get("lastError", ""))
            bad = 1
rules = sum(len(g["rules"]) for g in groups)
print(f"{rules} rules in {len(groups)} groups evaluated" + ("" if bad else ", all ok"))
sys.exit(bad)' || failed=1

echo "--- no alert fired on this healthy host"
fired=$(curl -sf --get "$api/query" --data-urlencode "query=max_over_time(ALERTS{alertstate=\"firing\"}[$window])" |
  /usr/bin/python3 -c 'import json, sys; print(" ".join(r["metric"]["alertname"] for r in json.load(sys.stdin)["data"]["result"]))')
if [ -z "$fired" ]; then echo "ok: no alert fired"; else echo "FAIL: alerts fired: $fired"; failed=1; fi

echo "--- every panel query returns data (window $window, \$__range 30s (less than the time from the first scrape to the reversal), \$__rate_interval 20s)"
"$dash/tests/query_panels.py" --api "$api" --start "$start" --end "$end" \
  --set __rate_interval=20s --set __interval=5s --set __range=30s \
  --expect "Hosts in transition (fleet)/A>=1" \
  --expect 'Stalled transitions (longer than $stall_after s)/A>=30' \
  --expect "Reversed, forced or cancelled transitions/A>=1" \
  --expect "Transition duration/A>=1" \
  --expect "CVE coverage by kernel release (fleet)/A>=1" \
  --expect "Patched-function calls per host/A>=1" \
  --expect "Blocking tasks/A>=3" \
  "$dash/lpmon-fleet.json" "$dash/lpmon-host.json" || failed=1

echo "--- metric names against a scrape taken mid-transition"
if [ -f "$work/mid-transition.txt" ]; then
  [ -n "$out" ] && cp "$work/mid-transition.txt" "$out/guest-metrics.txt"
  "$dash/tests/check_dashboards.py" --promql-metrics "$promql_metrics" \
    --exposition "$work/mid-transition.txt" --rules "${rules[0]}" --rules "${rules[1]}" \
    --rules "$dash/tests/expected.rules.yml" \
    --dashboard "$dash/lpmon-fleet.json" --dashboard "$dash/lpmon-host.json" || failed=1
  /usr/bin/python3 - "$dash/tests/guest-metrics.txt" "$work/mid-transition.txt" "${out:-build/vm/dashboards}" <<'PY' || failed=1
import sys
from prometheus_client.parser import text_string_to_metric_families
def names(path):
    with open(path) as f:
        return {s.name for fam in text_string_to_metric_families(f.read()) for s in fam.samples}
# Samples only some kernel lines have (docs/kernels.md): the 6.1 file lacks them, 6.12 has
# replace. Neither a dashboard nor a rule may depend on them.
kernel_dependent = {"lpmon_patch_replace", "lpmon_patch_stack_order"}
committed, live = names(sys.argv[1]) - kernel_dependent, names(sys.argv[2]) - kernel_dependent
if committed != live:
    print(f"FAIL: {sys.argv[1]} is stale: only there {sorted(committed - live)}, only in the "
          f"guest {sorted(live - committed)}; refresh it from {sys.argv[3]}/guest-metrics.txt")
    sys.exit(1)
print(f"ok: {sys.argv[1]} has the {len(live)} sample names the guest exporter has mid-transition")
PY
else
  echo "FAIL: no scrape was taken mid-transition"
  failed=1
fi
[ "$failed" -eq 0 ] || { echo "prometheus log:"; tail -20 "$work/prometheus.log"; }
exit "$failed"
