# Benchmark, numbers only: one per-task patch-state scan, the BPF task iterator (lpmon trace
# --scan's TaskStateScanner) against reading /proc/<pid>/patch_state, at about 1k and 10k
# tasks; the tasks are lpmon_target's park kthreads. Two cases per size: no transition (both
# only count), and a transition stuck on every parked kthread (both also list the unswitched
# tasks with their kernel stacks: symbolized by lpmon, or /proc/<pid>/stack). Results in
# bench-tasks.txt; see tests/bench/RESULTS-tasks.md.
. /lib/lpmon/lib.sh
require_livepatch

klp_load lpmon_target
results=bench-tasks.txt
# A 1 GiB guest allows fewer than 8000 threads (threads-max: RAM pages / 32): raise it.
echo 32000 >/proc/sys/kernel/threads-max || fail "raise threads-max"

# processes in /proc; every park kthread is one
process_count() { ls -d /proc/[0-9]* | wc -l; }

# park_up_to TOTAL: park kthreads, 64 a write (the target's cap), until /proc has TOTAL
park_up_to() {
	local n
	while [ "$(process_count)" -lt "$1" ]; do
		n=$(($1 - $(process_count)))
		[ $n -gt 64 ] && n=64
		echo "kthreads $n" >"$LPMON_TARGET_DEBUGFS/park" || fail "park $n kthreads"
	done
	ok "$(process_count) processes, $(cat $LPMON_TARGET_DEBUGFS/parked) parked"
}

# bench CASE ARGS...: medians of 5 repetitions, then the ratio procfs / BPF
bench() {
	local name=$1
	shift
	lpmon_bench_tasks "$@" --benchmark_min_time=0.5 --benchmark_repetitions=5 \
		--benchmark_report_aggregates_only=true --benchmark_format=csv >"$name.csv" 2>"$name.err" ||
		fail "lpmon_bench_tasks $name: $(cat "$name.err")"
	awk -F, -v name="$name" '
		/_median"/ { ms[$1 ~ /Bpf/ ? "bpf" : "procfs"] = $3; n[$1 ~ /Bpf/ ? "bpf" : "procfs"] = $NF;
		             listed[$1 ~ /Bpf/ ? "bpf" : "procfs"] = $(NF - 1) }
		END { printf "%-14s bpf %8.3f ms (%s tasks, %s listed)  procfs %8.3f ms (%s processes, %s listed)  procfs/bpf %.1f\n",
		             name, ms["bpf"], n["bpf"], listed["bpf"], ms["procfs"], n["procfs"], listed["procfs"],
		             ms["procfs"] / ms["bpf"] }' "$name.csv" | tee -a "$results"
}

# one_size TOTAL: both cases at about TOTAL tasks
one_size() {
	park_up_to "$1"
	bench "idle-$1" --target=-1
	klp_load lpmon_fixes_v2
	expect_eq "$(klp_attr lpmon_fixes_v2 transition)" 1 "v2's transition stuck on the parked kthreads"
	bench "stuck-$1" --target=1 --stacks
	echo release >"$LPMON_TARGET_DEBUGFS/park"
	wait_for 120 "transition completes after release" klp_transition_done lpmon_fixes_v2
	klp_disable lpmon_fixes_v2
	wait_for 120 "unpatching completes" klp_gone lpmon_fixes_v2
	rmmod lpmon_fixes_v2 || fail "rmmod lpmon_fixes_v2"
	wait_for 120 "released kthreads gone" target_parked_is 0
}

echo "guest: $(nproc) vCPUs, $(uname -r)" | tee "$results"
one_size 1000
one_size 10000
cat "$results"
