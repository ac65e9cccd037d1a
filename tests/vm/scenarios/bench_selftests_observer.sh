# Benchmark, numbers only: the kernel's livepatch selftests (all six scripts, as
# vm.livepatch_selftests runs them) with nothing else running, with lpmon trace and
# lpmon-exporter observing, and with a shell loop that only sleeps 10 ms at a time (no BPF),
# alternately in one boot. Per pass: wall time, transitions, how many ended on klp's first try
# (under 0.5 s: a retry comes a whole second later) and their summed duration, from the kernel
# log. Results in bench-selftests-observer.txt (BENCHMARKS.md, the observer effect).
. /lib/lpmon/lib.sh
require_livepatch
. /lpmon/kselftest/guest.sh
kselftest_setup

results=bench-selftests-observer.txt
rounds=${LPMON_BENCH_ROUNDS:-2}
modes="none lpmon waker"
: >$results

observers=
start_mode() {
	observers=
	case $1 in
	lpmon)
		lpmon trace --json >trace.jsonl 2>trace.err &
		observers=$!
		wait_for 60 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err
		lpmon-exporter --web.listen-address 127.0.0.1:9812 2>exporter.err &
		observers="$observers $!"
		wait_for 60 "lpmon-exporter serves" sh -c "wget -qO - http://127.0.0.1:9812/metrics 2>/dev/null |
			grep -q '^lpmon_bpf_program_up{program=\"transition\"} 1'"
		;;
	waker)
		sh -c 'while :; do usleep 10000; done' &
		observers=$!
		;;
	esac
	return 0
}
stop_mode() {
	local pid
	for pid in $observers; do
		kill -TERM "$pid" # TERM: a script's background job ignores SIGINT
		wait "$pid"
	done
	return 0
}

i=1
while [ $i -le "$rounds" ]; do
	for mode in $modes; do
		start_mode $mode
		dmesg -c >/dev/null # one pass's log at a time: the buffer holds 128 KiB
		t0=$(cut -d' ' -f1 /proc/uptime)
		kselftest_run_all "$mode-$i"
		t1=$(cut -d' ' -f1 /proc/uptime)
		stop_mode
		[ -z "$KSELFTEST_FAILED" ] || fail "$mode, pass $i: selftests failed:$KSELFTEST_FAILED"
		dmesg >"kernel-$mode-$i.log"
		klp_durations "[^']*" <"kernel-$mode-$i.log" | awk -v m="$mode" -v i="$i" \
			-v wall="$(echo "$t1 $t0" | awk '{ print $1 - $2 }')" '
			{ n++; s += $3; if ($3 < 0.5) fast++ }
			END { printf "%s pass=%d wall=%.1f transitions=%d first_try=%d summed=%.1f\n", m, i, wall, n, fast, s }' |
			tee -a $results
	done
	i=$((i + 1))
done
cat $results
