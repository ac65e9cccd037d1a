# Benchmark, numbers only (no timing is asserted): per-call cost of lpmon_target_check_len from
# the target's call loop, unpatched, patched (lpmon_fixes_v1), and patched while lpmon calls
# observes it with kprobes or fentry, in each mode (count only, sampled latency, every call
# timed); medians of 5 runs, what each adds to a call as a multiple of the redirection
# (patched - unpatched) measured in the same boot. Also how long lpmon calls takes to
# attach to 1 and to 4 functions. Results in bench-calls.txt; see tests/bench/RESULTS-calls.md.
. /lib/lpmon/lib.sh
require_livepatch

results=bench-calls.txt
F=lpmon_target_check_len
RUNS=5

# ns_per_call CALLS: one run of the call loop
ns_per_call() {
	echo "check_len $1" >"$LPMON_TARGET_DEBUGFS/call_loop" || fail "call_loop check_len $1"
	sed -n 's/.*ns_per_call=\([0-9.]*\).*/\1/p' "$LPMON_TARGET_DEBUGFS/call_loop"
}
# median_ns CALLS: the median of RUNS runs
median_ns() {
	local i
	for i in $(seq $RUNS); do ns_per_call "$1"; done | sort -n | sed -n "$(((RUNS + 1) / 2))p"
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
since() { echo "$(uptime_s) $1" | awk '{printf "%.2f", $1 - $2}'; }

# observe KIND MODE CALLS ARGS...: lpmon calls --probe KIND --mode MODE ARGS in the
# background; appends "KIND MODE median-ns/call-without median-ns/call-with" to costs.txt
# (without: the patched call measured right before, against drift within the boot); checks
# that it counted every call of the runs (and timed none, 1 in SAMPLE_EVERY per CPU, or all).
SAMPLE_EVERY=64
observe() {
	local kind=$1 mode=$2 calls=$3 start pid median out timed total base
	shift 3
	out=calls-$kind-$mode
	base=$(median_ns "$calls")
	start=$(uptime_s)
	lpmon calls --json --interval 1 --probe "$kind" --mode "$mode" --sample-every $SAMPLE_EVERY \
		"$@" >"$out.json" 2>"$out.err" &
	pid=$!
	wait_for 60 "lpmon calls --probe $kind --mode $mode $* attached" grep -q "counting calls" "$out.err"
	echo "attach $kind $mode $* $(since "$start") s" >>"$results"
	median=$(median_ns "$calls")
	# The calls are over and every probe has counted (BPF counts in the call itself); Ctrl-C
	# makes lpmon calls report the partial interval: an event, not a wait on the clock.
	kill -INT $pid
	wait $pid || fail "lpmon calls --probe $kind --mode $mode exited $?"
	total=$((RUNS * calls))
	calls_count_is "$out.json" $F $total ||
		fail "lpmon calls --probe $kind --mode $mode counted $(calls_last "$out.json" $F calls) calls, expected $total"
	timed=$(calls_last "$out.json" $F timed)
	case $mode in
	count) expect_eq "$timed" 0 "--mode count times nothing" ;;
	full) expect_eq "$timed" $total "--mode full times every call" ;;
	sampled)
		# Each CPU times its first call and then 1 in SAMPLE_EVERY: ceil(its calls / N).
		[ "$timed" -ge $((total / SAMPLE_EVERY)) ] && [ "$timed" -le $((total / SAMPLE_EVERY + $(nproc))) ] ||
			fail "--mode sampled timed $timed of $total calls, expected about $((total / SAMPLE_EVERY))"
		ok "--mode sampled timed $timed of $total"
		;;
	esac
	ok "all $total calls counted ($kind, $mode)"
	echo "$kind $mode $base $median" >>costs.txt
}

klp_load lpmon_target
ns_per_call 100000 >/dev/null # warm up
unpatched=$(median_ns 1000000)
# Counting where no other ftrace user shares the function's entry (before v1 patches it):
# what the probe itself costs, without ftrace's shared-site list function.
: >costs.txt
for kind in kprobe fentry; do
	observe $kind count 500000 --function $F --patch "$LPMON_KMOD_DIR/lpmon_fixes_v1.ko"
done
klp_load lpmon_fixes_v1
wait_for 30 "v1 transition completes" klp_transition_done lpmon_fixes_v1
patched=$(median_ns 1000000)
for mode in count sampled full; do
	calls=500000
	[ $mode = full ] && calls=100000
	for kind in kprobe fentry; do
		observe $kind $mode $calls --function $F
	done
done
# The patched run again, after: how far the baseline drifted within the boot.
patched_after=$(median_ns 1000000)
observe kprobe count 1000 # all four of v1's functions: attach time only
observe fentry count 1000

{
	echo "ns/call of $F, median of $RUNS runs (TCG guest, $(nproc) vCPUs," \
		"clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource))"
	echo "unpatched $unpatched"
	echo "patched $patched"
	echo "patched-again $patched_after"
	echo "$patched $unpatched" | awk '{printf "redirection %.2f ns/call (patched - unpatched), ratio %.1f\n", $1 - $2, $1 / $2}'
	# What observing adds to a call, as a multiple of what redirecting it costs: first on
	# the unpatched function (lines 1-2 of costs.txt), then on the patched one (3-8).
	head -2 costs.txt | awk -v p="$patched" -v u="$unpatched" \
		'{printf "unpatched %s, unpatched+%s-%s %s\n%s %s on the unpatched function %.2f ns/call, %.2f x the redirection\n", $3, $1, $2, $4, $1, $2, $4 - $3, ($4 - $3) / (p - u)}'
	sed -n 3,8p costs.txt | awk -v p="$patched" -v u="$unpatched" \
		'{printf "patched %s, patched+%s-%s %s\n%s %s observation %.2f ns/call, %.2f x the redirection\n", $3, $1, $2, $4, $1, $2, $4 - $3, ($4 - $3) / (p - u)}'
} >>"$results"
cat "$results"

klp_disable lpmon_fixes_v1
wait_for 30 "v1 unpatching completes" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod v1"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
