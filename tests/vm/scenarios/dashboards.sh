# Guest half of tests/vm/prometheus/dashboards_guest.sh: lpmon-exporter scraped by the host's
# Prometheus (with lpmon's rules) while this guest goes through what the dashboards show:
# no patch, a patch applied and called, a transition held by parked tasks for longer than
# the fleet board's stall threshold (30 s) and then reversed, and the patch reverted.
. /lib/lpmon/lib.sh
require_livepatch

# Sampled latency, so that the latency panels have data (the default mode only counts).
lpmon-exporter --web.listen-address :9812 --web.config.file /etc/lpmon/web.yml --bpf.stats \
	--calls.mode sampled --calls.sample-every 16 2>exporter.log &
exporter_pid=$!
wait_for 20 "exporter attached its tracer" grep -q "transition tracer attached" exporter.log
sleep 4 # the host scrapes a host without patches

klp_load lpmon_target
klp_load lpmon_fixes_v1
wait_for 30 "v1 transition completes" klp_transition_done lpmon_fixes_v1
wait_for 20 "exporter counts calls of check_len" \
	grep -qF "counting calls of lpmon_target_check_len [lpmon_target]" exporter.log
sleep 2
echo "check_len 100000" >"$LPMON_TARGET_DEBUGFS/call_loop" || fail "call loop"
sleep 3

log "holding v2's transition with tasks parked in a function it replaces"
target_park 2
klp_load lpmon_fixes_v2
sleep 36
expect_eq "$(klp_attr lpmon_fixes_v2 transition)" 1 "v2 still in transition after 36 s"
klp_disable lpmon_fixes_v2
wait_for 30 "v2 reversed and freed" klp_gone lpmon_fixes_v2
rmmod lpmon_fixes_v2 || fail "rmmod lpmon_fixes_v2"
echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID
wait_for 10 "no task parked" target_parked_is 0
expect_eq "$(klp_attr lpmon_fixes_v1 enabled)" 1 "v1 still in force after v2's reversal"
echo "check_len 100000" >"$LPMON_TARGET_DEBUGFS/call_loop" || fail "call loop"
sleep 3

klp_disable lpmon_fixes_v1
wait_for 30 "v1 unpatched and freed" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod lpmon_fixes_v1"
sleep 4 # the host scrapes a host without patches again

kill $exporter_pid
wait $exporter_pid
cat exporter.log
dmesg_clean
