# The README's main job in the guest: the sample patch set's release 1, then release 2
# replacing it atomically, then a revert, as lpmon shows them. With /etc/lpmon/web.yml (put
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

echo "### 1. before patching"
show lpmon status
settle

echo
echo "### 2. release 1 of the sample patch set: four fixes, CVE-2099-0001..0003 and -1001"
show insmod "$LPMON_KMOD_DIR/lpmon_fixes_v1.ko" || fail "insmod lpmon_fixes_v1"
wait_for 30 "patching transition completes" klp_transition_done lpmon_fixes_v1
show lpmon status
[ $? -eq 0 ] || fail "lpmon status does not report the host as patched"
show cat /proc/cmdline
target_rejects check_len 65 "Invalid argument"
settle

echo
echo "### 3. release 2 adds CVE-2099-0004 and atomically replaces release 1"
show insmod "$LPMON_KMOD_DIR/lpmon_fixes_v2.ko" || fail "insmod lpmon_fixes_v2"
wait_for 30 "release 1 replaced and freed" klp_gone lpmon_fixes_v1
show rmmod lpmon_fixes_v1 || fail "rmmod lpmon_fixes_v1"
show lpmon status
settle

echo
echo "### 4. revert: disable release 2, wait for the unpatching transition, unload"
show sh -c "echo 0 > $LIVEPATCH_SYSFS/lpmon_fixes_v2/enabled"
wait_for 30 "unpatching transition completes" klp_gone lpmon_fixes_v2
show rmmod lpmon_fixes_v2 || fail "rmmod lpmon_fixes_v2"
show lpmon status
[ $? -eq 3 ] || fail "lpmon status does not report the host as unpatched"
target_accepts check_len 65
settle

echo
echo "### what lpmon trace saw"
kill -INT $trace_pid
wait $trace_pid
cat trace.txt
[ "$(grep -c ' end ' trace.txt)" -ge 3 ] || fail "lpmon trace missed a transition"

echo
echo "### kernel log"
dmesg | grep -E 'livepatch|lpmon' | sed 's/^/  /'
[ -n "${exporter_pid:-}" ] && kill $exporter_pid
dmesg_clean
