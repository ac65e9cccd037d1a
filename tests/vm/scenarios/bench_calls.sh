# Benchmark, numbers only (no timing is asserted): per-call cost of lpmon_target_check_len from
# the target's call loop, unpatched, patched (lpmon_fixes_v1), and patched while lpmon calls
# observes it with kprobes (the default) or fentry/fexit; medians of 5 runs, each mode's ratio
# against the patched call measured in the same boot. Also how long lpmon calls takes to
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

# observe KIND CALLS ARGS...: lpmon calls --probe KIND ARGS in the background; prints the
# median ns/call with it attached and checks that it counted every call of the runs.
observe() {
	local kind=$1 calls=$2 start pid median
	shift 2
	start=$(uptime_s)
	lpmon calls --json --interval 1 --probe "$kind" "$@" >"calls-$kind.json" 2>"calls-$kind.err" &
	pid=$!
	wait_for 60 "lpmon calls --probe $kind $* attached" grep -q "counting calls" "calls-$kind.err" >&2
	echo "attach $kind $* $(since "$start") s" >>"$results"
	median=$(median_ns "$calls")
	# The calls are over and every probe has counted (BPF counts in the call itself); Ctrl-C
	# makes lpmon calls report the partial interval: an event, not a wait on the clock.
	kill -INT $pid
	wait $pid || fail "lpmon calls --probe $kind exited $?"
	calls_count_is "calls-$kind.json" $F $((RUNS * calls)) ||
		fail "lpmon calls --probe $kind counted $(calls_last "calls-$kind.json" $F calls) calls, expected $((RUNS * calls))"
	ok "all $((RUNS * calls)) calls counted" >&2
	echo "$median"
}

klp_load lpmon_target
ns_per_call 100000 >/dev/null # warm up
unpatched=$(median_ns 1000000)
klp_load lpmon_fixes_v1
wait_for 30 "v1 transition completes" klp_transition_done lpmon_fixes_v1
patched=$(median_ns 1000000)
kprobe=$(observe kprobe 100000 --function $F)
fentry=$(observe fentry 100000 --function $F)
observe kprobe 1000 >/dev/null # all four of v1's functions: attach time only
observe fentry 1000 >/dev/null

{
	echo "ns/call of $F, median of $RUNS runs (TCG guest, $(nproc) vCPUs," \
		"clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource))"
	echo "unpatched $unpatched"
	echo "patched $patched"
	echo "patched+kprobe $kprobe"
	echo "patched+fentry $fentry"
	echo "$patched $unpatched" | awk '{printf "redirection %.2f ns/call (patched - unpatched), ratio %.1f\n", $1 - $2, $1 / $2}'
	echo "$kprobe $patched" | awk '{printf "kprobe observation %.2f ns/call, ratio %.1f to patched\n", $1 - $2, $1 / $2}'
	echo "$fentry $patched" | awk '{printf "fentry observation %.2f ns/call, ratio %.1f to patched\n", $1 - $2, $1 / $2}'
} >>"$results"
cat "$results"

klp_disable lpmon_fixes_v1
wait_for 30 "v1 unpatching completes" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod v1"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
