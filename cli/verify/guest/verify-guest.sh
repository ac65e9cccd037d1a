# lpmon verify, inside the guest (busybox sh, run by the harness's /init in /out): baseline
# workload with the patched functions observed, apply under the gate, the same workload
# patched, a bake, revert and unload. It decides nothing: the host reads what it leaves in
# /out and gives the verdict. Lines starting "verify: " are progress for the host.
. /lib/lpmon/lib.sh
. /verify/params # PATCH_NAME, BAKE_SECONDS, APPLY_TIMEOUT, REVERT_TIMEOUT

progress() { echo "verify: $*"; }
# phase NAME: when each step started, in seconds of uptime (the BPF clock is the same here)
phase() { echo "$(cut -d' ' -f1 /proc/uptime) $1" >>phases.txt; }
count_reports() { grep -cE 'WARNING:|BUG:|Oops|general protection|Kernel panic' "$1"; }

[ -d "$LIVEPATCH_SYSFS" ] || {
	echo "this kernel ($(uname -r)) has no livepatch support (CONFIG_LIVEPATCH)" >no-livepatch.txt
	progress "no livepatch support in $(uname -r)"
	exit 0
}
phase boot
uname -r >release.txt

# The patch's objects that are modules of their own: loaded before the patch, in order.
: >modules-loaded.txt
if [ -f /verify/modules.txt ]; then
	while read -r m; do
		if insmod "/verify/modules/$m.ko" 2>>modules.err; then echo "$m" >>modules-loaded.txt; fi
	done </verify/modules.txt
fi

lpmon inspect --json /verify/patch.ko >inspect.json 2>inspect.err
# object:function per line, from lpmon inspect's objects (keys sorted: "functions" before "name")
awk '/"objects": \[/ { in_objects = 1 }
     in_objects && /"functions": \[/ { in_funcs = 1; n = 0; next }
     in_objects && in_funcs && /"name":/ { gsub(/[",]/, "", $2); f[n++] = $2; next }
     in_objects && in_funcs && /^ *\]/ { in_funcs = 0; next }
     in_objects && /"name":/ { gsub(/[",]/, "", $2); for (i = 0; i < n; i++) print $2 ":" f[i]; n = 0 }
     /"objects_source"/ { in_objects = 0 }' inspect.json >functions.txt

cat /proc/sys/kernel/tainted >taint-before.txt
dmesg >dmesg-before.txt

lpmon trace --tasks --json >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err >/dev/null

# observe FILE: lpmon calls on the patch's functions, patched or not, in the background
observe() {
	# --mode full: the report compares the time per call, unpatched and patched
	lpmon calls --patch /verify/patch.ko --json --interval 1 --mode full >"$1.jsonl" 2>"$1.err" &
	calls_pid=$!
	wait_for 60 "lpmon calls is counting" grep -q "counting calls of" "$1.err" >/dev/null
}
stop_observing() {
	kill -INT $calls_pid
	wait $calls_pid
}
workload() {
	(cd /tmp && sh /verify/workload.sh /out/functions.txt) >>"workload-$1.log" 2>&1
	echo $? >"workload-$1.rc"
}

# Each phase runs the workload once unobserved first: code runs slowly the first time (under
# TCG it is translated then), and that must not count against either side.
progress "running the workload unpatched (baseline)"
workload warmup-unpatched
observe calls-unpatched
phase baseline
workload unpatched
phase baseline-end
stop_observing

progress "applying $PATCH_NAME under the gate"
phase apply
lpmon apply /verify/patch.ko --gate /verify/gate.yaml --json --timeout "${APPLY_TIMEOUT}s" --audit-log audit.log \
	>apply.json 2>apply.err
echo $? >apply.rc
phase apply-end
dmesg >dmesg-applied.txt

if [ "$(cat apply.rc)" = 0 ]; then
	progress "running the workload patched"
	workload warmup-patched
	observe calls-patched
	phase patched
	workload patched
	phase patched-end
	stop_observing

	progress "baking for ${BAKE_SECONDS} s"
	# Not during the measured workload: its start-up (BPF loads) would skew the costs.
	lpmon-exporter --web.listen-address 127.0.0.1:9812 2>exporter.err &
	exporter_pid=$!
	phase bake
	end=$(($(cut -d. -f1 /proc/uptime) + BAKE_SECONDS))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do workload bake; done
	# The exporter's view of the patch; it may still be attaching its BPF programs.
	i=0
	until wget -qO metrics.txt http://127.0.0.1:9812/metrics 2>/dev/null || [ $i -ge 60 ]; do
		usleep 500000
		i=$((i + 1))
	done
	kill $exporter_pid
	phase bake-end
fi
cat /proc/sys/kernel/tainted >taint-after.txt
dmesg >dmesg-after.txt

progress "reverting $PATCH_NAME"
phase revert
lpmon revert "$PATCH_NAME" --json --timeout "${REVERT_TIMEOUT}s" --audit-log audit.log >revert.json 2>revert.err
echo $? >revert.rc
phase revert-end
[ -d "/sys/module/$PATCH_NAME" ] && echo "module $PATCH_NAME is still loaded" >>unload.txt
[ -d "$LIVEPATCH_SYSFS/$PATCH_NAME" ] && echo "patch $PATCH_NAME is still in $LIVEPATCH_SYSFS" >>unload.txt
for m in $(sort -r modules-loaded.txt); do
	rmmod "$m" 2>>unload.txt || echo "rmmod $m failed" >>unload.txt
done

kill -INT $trace_pid
wait $trace_pid
dmesg >dmesg-end.txt
cat /proc/sys/kernel/tainted >taint-end.txt
phase end
echo "$(count_reports dmesg-before.txt) $(count_reports dmesg-end.txt)" >reports.txt
progress "done"
echo done >done.txt
