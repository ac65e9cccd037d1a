#!/usr/bin/env bash
# A real Prometheus on the host scrapes lpmon-exporter in the 6.1 guest over TLS with basic
# auth (user-mode networking, forwarded on a loopback port) while the guest applies and
# reverts a patch. The verdict comes from PromQL through Prometheus' HTTP API, never from
# the exporter directly.
# usage: scrape_guest.sh RUN_GUEST_ARGS... (everything run-guest.sh needs but --forward/--file)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
host_driver_start
exporter_port=$(free_port)
make_exporter_tls
start_prometheus "$(free_port)" "$exporter_port"
echo "prometheus at ${api%/api/v1} scrapes https://127.0.0.1:$exporter_port (guest :9812)"

# For promtool: keep a scrape of our own taken while the patch is applied.
keep_scrape "$work/with-patch.txt" 'lpmon_patch_enabled{patch="lpmon_fixes_v1"}'

# shellcheck disable=SC2046 # word splitting of the file arguments is wanted
"$here/../run-guest.sh" "$@" --forward "$exporter_port:9812" $(guest_files_args)
kill "$scraper_pid"

failed=0
# expect QUERY PYTHON-CONDITION-ON-v WHAT [TIME]
expect() {
  local v
  v=$(value "$1" "${4:-}")
  if [ -n "$v" ] && python3 -c "import sys; v = float(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$v"; then
    echo "ok: $3: $1 = $v"
  else
    echo "FAIL: $3: $1 = '${v}' (expected $2)"
    failed=1
  fi
}
window=10m
expect "max_over_time(up{job=\"lpmon\"}[$window])" "v == 1" "Prometheus scraped the guest over TLS with basic auth"
expect "max_over_time(lpmon_livepatch_supported[$window])" "v == 1" "livepatch supported"
expect "max_over_time(lpmon_bpf_program_up{program=\"transition\"}[$window])" "v == 1" "transition tracer up"
expect "max_over_time(lpmon_patch_enabled{patch=\"lpmon_fixes_v1\"}[$window])" "v == 1" "patch seen enabled"
# Absent at the first scrape, enabled, absent again at the last scrape (disabled, freed).
first=$(value "min_over_time(timestamp(lpmon_livepatch_supported)[$window:1s])")
last=$(value "max_over_time(timestamp(lpmon_livepatch_supported)[$window:1s])")
expect "count(lpmon_patch_enabled{patch=\"lpmon_fixes_v1\"}) or vector(0)" "v == 0" "no patch at the first scrape" "$first"
expect "count(lpmon_patch_enabled{patch=\"lpmon_fixes_v1\"}) or vector(0)" "v == 0" "no patch at the last scrape" "$last"
expect "lpmon_livepatch_supported" "v == 1" "the exporter answered the last scrape" "$last"
expect "max_over_time(lpmon_transitions_total{patch=\"lpmon_fixes_v1\",direction=\"patching\",result=\"complete\"}[$window])" "v == 1" "one patching transition"
expect "max_over_time(lpmon_transitions_total{patch=\"lpmon_fixes_v1\",direction=\"unpatching\",result=\"complete\"}[$window])" "v == 1" "one unpatching transition"
expect "max_over_time(lpmon_transition_duration_seconds_count{direction=\"patching\"}[$window])" "v == 1" "patching duration observed"
expect "max_over_time(lpmon_transition_duration_seconds_sum{direction=\"patching\"}[$window])" "0 < v < 60" "patching duration in seconds"
expect "max_over_time(lpmon_kernel_tainted{flag=\"livepatch\"}[$window])" "v == 1" "taint K seen"
expect "max_over_time(lpmon_patch_info{patch=\"lpmon_fixes_v1\",version=\"1\",cves=~\".*CVE-2099-0001.*\"}[$window])" "v == 1" "patch version and CVEs as labels"
expect "max_over_time(lpmon_bpf_program_up{program=\"patched_calls\"}[$window])" "v == 1" "patched-call probes up"
# The call loop made 100000 calls: the counter rose from 0 to exactly that.
expect "max_over_time(lpmon_patched_function_calls_total{function=\"lpmon_target_check_len\"}[$window])" "v == 100000" "calls of check_len counted"
expect "min_over_time(lpmon_patched_function_calls_total{function=\"lpmon_target_check_len\"}[$window])" "v == 0" "the calls counter was 0 before the calls"
# The exporter's default mode only counts: it times no call, so it publishes no durations.
expect "count(lpmon_patched_function_duration_seconds_count) or vector(0)" "v == 0" "no duration histogram in the default mode (count only)"
expect "max_over_time(lpmon_bpf_program_runs_total{function=\"lpmon_target_check_len\"}[$window])" "v >= 100000" "--bpf.stats: probe runs counted"
# The transition tracer's own programs: klp_init_transition runs once per transition.
expect "min_over_time(lpmon_bpf_program_runs_total{object=\"vmlinux\",function=\"klp_init_transition\"}[$window])" "v == 0" "--bpf.stats: tracer program seen before any transition"
expect "max_over_time(lpmon_bpf_program_runs_total{object=\"vmlinux\",function=\"klp_init_transition\"}[$window])" "v >= 2" "--bpf.stats: tracer runs counted for both transitions"
expect "max_over_time(lpmon_bpf_program_run_seconds_total{function=\"klp_init_transition\"}[$window])" "v > 0" "--bpf.stats: tracer run time counted"
if [ -f "$work/with-patch.txt" ] && lint=$(promtool check metrics <"$work/with-patch.txt" 2>&1); then
  echo "ok: promtool check metrics passes on a scrape with the patch applied ($(grep -c '^lpmon_' "$work/with-patch.txt") lpmon samples)"
else
  echo "FAIL: promtool check metrics: ${lint:-no scrape with the patch was taken}"
  failed=1
fi
[ "$failed" -eq 0 ] || { echo "prometheus log:"; tail -20 "$work/prometheus.log"; }
exit "$failed"
