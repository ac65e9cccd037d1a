# Benchmark, numbers only: how long after the kernel ends a transition its watcher notices.
# lpmon apply follows BPF events; kpatch's way is to read `transition` once a second after
# insmod. Both are timed against the kernel's own end of the transition (the BPF END event's
# CLOCK_MONOTONIC timestamp, from lpmon apply's JSON or from an lpmon trace running beside),
# on the same patch, alternately, in the same boot. Then how long lpmon status and lpmon
# inspect take here. Results in bench-apply.txt (see BENCHMARKS.md).
. /lib/lpmon/lib.sh
require_livepatch

results=bench-apply.txt
rounds=${LPMON_BENCH_ROUNDS:-5}
patch=lpmon_fixes_v1
klp_load lpmon_target

lpmon trace --json >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err

# uptime_ns: /proc/uptime in ns (10 ms resolution; CLOCK_BOOTTIME, which is CLOCK_MONOTONIC
# in a guest that never suspends)
uptime_ns() { awk '{printf "%.0f\n", $1 * 1e9}' /proc/uptime; }

i=1
while [ $i -le "$rounds" ]; do
	lpmon apply $LPMON_KMOD_DIR/$patch.ko --json --audit-log audit.log >apply.json 2>/dev/null ||
		fail "lpmon apply, round $i"
	echo "lpmon-apply $(json_num notice_latency_seconds <apply.json)" >>$results
	lpmon revert $patch --audit-log audit.log >/dev/null 2>&1 || fail "lpmon revert, round $i"

	ends_before=$(grep -c '"event":"end"' trace.jsonl)
	insmod $LPMON_KMOD_DIR/$patch.ko || fail "insmod, round $i"
	while [ "$(klp_attr $patch transition)" = 1 ]; do sleep 1; done
	seen=$(uptime_ns)
	wait_for 10 "the trace has the END" lines_at_least trace.jsonl '"event":"end"' $((ends_before + 1))
	end=$(grep '"event":"end"' trace.jsonl | tail -1 | json_num monotonic_ns)
	echo "sysfs-1s-poll $(awk -v s="$seen" -v e="$end" 'BEGIN {printf "%.6f\n", (s - e) / 1e9}')" \
		>>$results
	klp_disable $patch
	wait_for 30 "unpatched" klp_gone $patch
	rmmod $patch || fail "rmmod, round $i"
	i=$((i + 1))
done
kill -INT $trace_pid
wait $trace_pid

# time_runs N COMMAND...: mean wall time of N runs in ms (uptime has 10 ms resolution)
time_runs() {
	local n=$1 start k=0
	shift
	start=$(uptime_ns)
	while [ $k -lt "$n" ]; do
		"$@" >/dev/null 2>&1
		k=$((k + 1))
	done
	awk -v s="$start" -v e="$(uptime_ns)" -v n="$n" 'BEGIN {printf "%.1f\n", (e - s) / n / 1e6}'
}
klp_load lpmon_fixes_v2
wait_for 30 "v2 applied" klp_transition_done lpmon_fixes_v2
echo "status-ms $(time_runs 20 lpmon status)" >>$results
echo "status-json-ms $(time_runs 20 lpmon status --json)" >>$results
echo "inspect-ms $(time_runs 20 lpmon inspect $LPMON_KMOD_DIR/lpmon_fixes_v2.ko)" >>$results
echo "version-ms $(time_runs 20 lpmon --version)" >>$results
echo "true-ms $(time_runs 20 /bin/true)" >>$results

median() { grep "^$1 " $results | cut -d' ' -f2 | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
apply_median=$(median lpmon-apply)
poll_median=$(median sysfs-1s-poll)
echo "median lpmon-apply $apply_median s, sysfs-1s-poll $poll_median s, ratio $(awk -v a="$apply_median" -v p="$poll_median" 'BEGIN {printf "%.0f", p / a}')" >>$results
cat $results
