# The README's main job in the guest: the sample patch set's release 1, then release 2
# replacing it atomically, both applied by lpmon apply behind a gate, then a revert, then an
# apply that stalls and is rolled back on its own, as lpmon shows them. With /etc/lpmon/web.yml (put
# there by tests/vm/prometheus/demo.sh) lpmon-exporter serves it all to the host's Prometheus.
. /lib/lpmon/lib.sh
require_livepatch

show() {
	echo
	echo "\$ $*"
	"$@"
}
# Give the host's Prometheus (scraping every second) time to see each state.
settle() { [ -n "${exporter_pid:-}" ] && sleep 3; }

if [ -f /etc/lpmon/web.yml ]; then
	lpmon-exporter --web.listen-address :9812 --web.config.file /etc/lpmon/web.yml \
		2>exporter.log &
	exporter_pid=$!
	wait_for 20 "lpmon-exporter is serving" grep -q "serving /metrics" exporter.log
fi
lpmon trace >trace.txt 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err
klp_load lpmon_target
cat >host-gate.yaml <<'YAML'
checks:
  - name: transition
    local: {kind: transitionFinished, within: 10s}
  - name: no-new-taint
    local: {kind: noNewTaint}
YAML

echo "### 1. before patching"
show lpmon status
settle

echo
echo "### 2. release 1 of the sample patch set: four fixes, CVE-2099-0001..0003 and -1001"
show lpmon apply "$LPMON_KMOD_DIR/lpmon_fixes_v1.ko" --gate host-gate.yaml --audit-log audit.log ||
	fail "lpmon apply lpmon_fixes_v1"
show lpmon status
[ $? -eq 0 ] || fail "lpmon status does not report the host as patched"
show cat /proc/cmdline
target_rejects check_len 65 "Invalid argument"
settle

echo
echo "### 3. release 2 adds CVE-2099-0004 and atomically replaces release 1"
show lpmon apply "$LPMON_KMOD_DIR/lpmon_fixes_v2.ko" --gate host-gate.yaml --audit-log audit.log ||
	fail "lpmon apply lpmon_fixes_v2"
klp_gone lpmon_fixes_v1 || fail "release 1 was not replaced"
# Release 1's module stays loaded, unused, until unloaded.
show lpmon revert lpmon_fixes_v1 --audit-log audit.log || fail "lpmon revert lpmon_fixes_v1"
show lpmon status
settle

echo
echo "### 4. revert: disable release 2, wait for the unpatching transition, unload"
show lpmon revert lpmon_fixes_v2 --audit-log audit.log || fail "lpmon revert lpmon_fixes_v2"
show lpmon status
[ $? -eq 3 ] || fail "lpmon status does not report the host as unpatched"
target_accepts check_len 65
settle

echo
echo "### 5. a bad rollout: tasks sleep in a function release 2 replaces, so its transition"
echo "###    cannot finish within the gate's 10 s; lpmon apply reverses it and unloads it"
target_park 2
show lpmon apply "$LPMON_KMOD_DIR/lpmon_fixes_v2.ko" --gate host-gate.yaml --audit-log audit.log
[ $? -eq 12 ] || fail "lpmon apply did not roll back the stalled patch"
show lpmon status
[ $? -eq 3 ] || fail "lpmon status does not report the host as unpatched after the rollback"
echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID
settle

echo
echo "### the audit log (/var/log/lpmon/audit.log by default)"
cut -c1-160 audit.log

echo
echo "### what lpmon trace saw"
kill -INT $trace_pid
wait $trace_pid
cat trace.txt
[ "$(grep -c ' end ' trace.txt)" -ge 4 ] || fail "lpmon trace missed a transition"

echo
echo "### kernel log"
dmesg | grep -E 'livepatch|lpmon' | sed 's/^/  /'
[ -n "${exporter_pid:-}" ] && kill $exporter_pid
dmesg_clean
