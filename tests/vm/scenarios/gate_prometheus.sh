# Guest half of tests/vm/prometheus/gate_guest.sh: lpmon-exporter runs while the host's
# Prometheus scrapes it; the host runs lpmon gate once with v1 applied by lpmon apply (a good
# wave) and once with v2 stalled by parked tasks (a bad wave), and the guest waits for each.
. /lib/lpmon/lib.sh
require_livepatch

lpmon-exporter --web.listen-address :9812 --web.config.file /etc/lpmon/web.yml 2>exporter.log &
exporter_pid=$!
wait_for 20 "exporter attached its tracer" grep -q "transition tracer attached" exporter.log
klp_load lpmon_target

lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --timeout 30s --audit-log audit.log >apply.txt
expect_eq "$?" 0 "lpmon apply v1"
echo "wave ready: good"
host_says next

lpmon revert lpmon_fixes_v1 --audit-log audit.log || fail "lpmon revert v1"
target_park 2
klp_load lpmon_fixes_v2
echo "wave ready: stalled"
host_says next

echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID
wait_for 30 "v2's transition completes once the tasks leave" klp_transition_done lpmon_fixes_v2
lpmon revert lpmon_fixes_v2 --audit-log audit.log || fail "lpmon revert v2"
kill $exporter_pid
wait $exporter_pid
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
