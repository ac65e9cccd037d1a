# Guest half of tests/vm/prometheus/scrape_guest.sh: lpmon-exporter serves TLS with basic
# auth on port 9812 while the host's Prometheus scrapes it every second; meanwhile the
# sample patch v1 is applied, exercised and reverted. The host checks what Prometheus saw.
. /lib/lpmon/lib.sh
require_livepatch

lpmon-exporter --web.listen-address :9812 --web.config.file /etc/lpmon/web.yml --bpf.stats \
	2>exporter.log &
exporter_pid=$!
wait_for 20 "exporter attached its tracer" grep -q "transition tracer attached" exporter.log
# The host's Prometheus must see the unpatched state before anything happens.
sleep 4

klp_load lpmon_target
klp_load lpmon_fixes_v1
wait_for 30 "v1 transition completes" klp_transition_done lpmon_fixes_v1
wait_for 20 "exporter counts calls of check_len" \
	grep -qF "counting calls of lpmon_target_check_len [lpmon_target]" exporter.log
# Capabilities are per thread: CivetWeb's and the transition poller's threads keep only
# CAP_DAC_READ_SEARCH (2); the one thread that attaches call probes to patches arriving later
# keeps CAP_SYS_ADMIN (21), CAP_SYSLOG (34), CAP_PERFMON (38) and CAP_BPF (39) too.
threads_within $exporter_pid "1 << 2" "lpmon-exporter" \
	1 "(1 << 2) | (1 << 21) | (1 << 34) | (1 << 38) | (1 << 39)"
sleep 2 # so that Prometheus scrapes the counter at 0 before the calls
echo "check_len 100000" >"$LPMON_TARGET_DEBUGFS/call_loop" || fail "call loop"
sleep 4

klp_disable lpmon_fixes_v1
wait_for 30 "v1 unpatched and freed" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod lpmon_fixes_v1"
sleep 4

kill $exporter_pid
wait $exporter_pid
cat exporter.log
dmesg_clean
