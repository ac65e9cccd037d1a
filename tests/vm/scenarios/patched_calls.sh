# lpmon calls counts every call of the patched functions exactly, keeps counting across an
# atomic replace (v1 -> v2) without pinning the replaced patch module, follows patches and
# patched modules appearing and disappearing, and reports its own BPF run time (all with
# every call timed, --mode full). Then the same count with fentry/fexit instead of the default
# kprobes, and the cheap modes: counting only (the default: the entry probe alone) and 1 call
# in N timed, each exact against the call loop's count.
. /lib/lpmon/lib.sh
require_livepatch

N=20000
F=lpmon_target_check_len
# loop_check_len N: N calls of lpmon_target_check_len from the target's call loop
loop_check_len() {
	echo "check_len $1" >"$LPMON_TARGET_DEBUGFS/call_loop" || fail "call_loop check_len $1"
}

klp_load lpmon_target
klp_load lpmon_fixes_v1
wait_for 30 "v1 transition completes" klp_transition_done lpmon_fixes_v1

log "lpmon calls --mode full on v1's four functions (kprobes)"
start=$(cut -d' ' -f1 /proc/uptime)
lpmon calls --json --interval 0.5 --stats --mode full >calls.json 2>calls.err &
calls_pid=$!
wait_for 60 "lpmon calls is counting" grep -q "counting calls of" calls.err
echo "attached in $(echo "$(cut -d' ' -f1 /proc/uptime) $start" | awk '{printf "%.2f", $1 - $2}') s: $(cat calls.err)"
expect_match "$(cat calls.err)" "counting calls of 4 patched functions" "all of v1's functions"
for f in $F lpmon_target_parse_flags lpmon_target_session_use cmdline_proc_show; do
	calls_event calls.json attached $f || fail "no attached event for $f"
done
expect_match "$(grep '"type":"attached"' calls.json | grep "\"$F\"")" '"probe":"kprobe"' \
	"kprobe by default"

loop_check_len $N
target_rejects check_len 65 "Invalid argument"
target_accepts check_len 64
for i in 1 2 3; do cat /proc/cmdline >/dev/null; done
wait_for 10 "v1: $((N + 2)) calls of $F counted" calls_count_is calls.json $F $((N + 2))
expect_eq "$(calls_last calls.json $F timed)" $((N + 2)) "every call of $F timed"
wait_for 10 "3 calls of cmdline_proc_show (vmlinux) counted" \
	calls_count_is calls.json cmdline_proc_show 3
expect_eq "$(calls_last calls.json lpmon_target_parse_flags calls)" 0 "parse_flags not called"

log "v2 replaces v1 while lpmon calls runs"
klp_load lpmon_fixes_v2
wait_for 30 "v2 transition completes" klp_transition_done lpmon_fixes_v2
wait_for 10 "v1 replaced and freed" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod v1: lpmon calls must not pin a replaced patch"
ok "v1 unloaded while lpmon calls runs"
wait_for 20 "v2's new function is observed" \
	calls_event calls.json attached lpmon_target_wait_released
loop_check_len $N
wait_for 10 "v2: $((2 * N + 2)) calls of $F in all" calls_count_is calls.json $F $((2 * N + 2))
# lpmon calls learns of the replace at its next refresh (once an interval).
latest_is_v2() {
	grep '"type":"calls"' calls.json | grep "\"$F\"" | tail -1 |
		grep -q '"patches":\["lpmon_fixes_v2"\]'
}
wait_for 10 "$F is v2's now" latest_is_v2
line=$(grep '"type":"calls"' calls.json | grep "\"$F\"" | tail -1)
# The run-time statistics were on before the probes attached: every call ran the entry program.
entry_runs=$(echo "$line" | sed -n 's/.*"name":"calls_kprobe","ns_per_run":[^,]*,"recursion_misses":[0-9]*,"run_count":\([0-9]*\).*/\1/p')
exit_runs=$(echo "$line" | sed -n 's/.*"name":"calls_kretprobe","ns_per_run":[^,]*,"recursion_misses":[0-9]*,"run_count":\([0-9]*\).*/\1/p')
expect_eq "$entry_runs" $((2 * N + 2)) "--stats: runs of the entry program"
expect_eq "$exit_runs" $((2 * N + 2)) "--stats: runs of the exit program"
echo "--stats: $(echo "$line" | sed -n 's/.*\("bpf_programs":\[[^]]*\]\).*/\1/p')"

log "the patched module goes and comes back: observation follows it"
rmmod lpmon_target || fail "rmmod lpmon_target while kprobes observe it"
wait_for 10 "$F detached with its module" calls_event calls.json detached $F
klp_load lpmon_target
wait_for 20 "$F observed again" calls_event calls.json attached $F 2
loop_check_len $N
wait_for 10 "$N calls of $F since it was observed again" calls_count_is calls.json $F $N

log "... and within one interval: the kprobes must move to the new module's text"
lpmon calls --json --interval 3 --mode full --function $F >reload.json 2>reload.err &
reload_pid=$!
wait_for 30 "lpmon calls --interval 3 is counting" grep -q "counting calls of 1 " reload.err
rmmod lpmon_target || fail "rmmod lpmon_target"
klp_load lpmon_target
wait_for 20 "$F observed in the new module" calls_event reload.json attached $F 2
loop_check_len $N
wait_for 10 "$N calls of $F in the new module" calls_count_is reload.json $F $N
kill -INT $reload_pid
wait $reload_pid
grep -E '"type":"(attached|detached)"' reload.json

log "v2 disabled: its functions are no longer observed"
klp_disable lpmon_fixes_v2
wait_for 30 "unpatching completes" klp_gone lpmon_fixes_v2
wait_for 10 "$F detached" calls_event calls.json detached $F 3
rmmod lpmon_fixes_v2 || fail "rmmod v2"
kill -INT $calls_pid
wait $calls_pid
expect_eq "$?" 0 "lpmon calls ends cleanly on Ctrl-C"
rmmod lpmon_target || fail "rmmod lpmon_target: lpmon calls left a probe on it"
ok "lpmon calls left no probe behind"
klp_load lpmon_target

log "fentry/fexit instead of kprobes"
klp_load lpmon_fixes_v1
wait_for 30 "v1 transition completes" klp_transition_done lpmon_fixes_v1
lpmon calls --json --interval 0.5 --probe fentry --mode full --function $F >fentry.json 2>fentry.err &
calls_pid=$!
wait_for 30 "lpmon calls --probe fentry is counting" grep -q "counting calls of 1 patched function" fentry.err
expect_match "$(grep '"type":"attached"' fentry.json)" "\"$F\".*\"probe\":\"fentry\"|\"probe\":\"fentry\".*\"$F\"" \
	"$F observed with fentry"
loop_check_len $N
wait_for 10 "fentry: $N calls of $F counted" calls_count_is fentry.json $F $N
expect_eq "$(calls_last fentry.json $F timed)" $N "fentry: every call timed"
kill -INT $calls_pid
wait $calls_pid
expect_eq "$?" 0 "lpmon calls --probe fentry ends cleanly"
tail -3 fentry.json

# cheap KIND MODE: lpmon calls --probe KIND --mode MODE --stats counts $N calls exactly, times
# none (count) or 1 in 8 per CPU (sampled), and runs the exit program only when it times.
cheap() {
	local kind=$1 mode=$2 out=cheap-$1-$2 line timed entry exit prog
	lpmon calls --json --interval 0.5 --stats --probe "$kind" --mode "$mode" --sample-every 8 \
		--function $F >"$out.json" 2>"$out.err" &
	calls_pid=$!
	wait_for 30 "lpmon calls --probe $kind --mode $mode is counting" grep -q "counting calls of 1 " "$out.err"
	loop_check_len $N
	wait_for 10 "$kind $mode: $N calls of $F counted" calls_count_is "$out.json" $F $N
	kill -INT $calls_pid
	wait $calls_pid
	expect_eq "$?" 0 "lpmon calls --probe $kind --mode $mode ends cleanly"
	line=$(grep '"type":"calls"' "$out.json" | grep "\"$F\"" | tail -1)
	expect_match "$line" "\"mode\":\"$mode\"" "reported as --mode $mode"
	expect_match "$line" "\"probe\":\"$kind\"" "with $kind"
	timed=$(calls_last "$out.json" $F timed)
	prog=calls_entry
	[ "$kind" = kprobe ] && prog=calls_kprobe
	entry=$(echo "$line" | sed -n "s/.*\"name\":\"$prog\",\"ns_per_run\":[^,]*,\"recursion_misses\":[0-9]*,\"run_count\":\([0-9]*\).*/\1/p")
	expect_eq "$entry" $N "$kind $mode: the entry program ran once a call"
	exit=$(echo "$line" | grep -o '"name":"calls_\(exit\|kretprobe\)"' || true)
	if [ "$mode" = count ]; then
		expect_eq "$timed" 0 "$kind count: no call timed"
		expect_eq "$exit" "" "$kind count: no exit program"
	else
		# Each CPU times its first call, then 1 in 8: ceil(its calls / 8) in all.
		[ "$timed" -ge $((N / 8)) ] && [ "$timed" -le $((N / 8 + $(nproc))) ] ||
			fail "$kind sampled: $timed of $N calls timed, expected ceil(calls per CPU / 8)"
		ok "$kind sampled: $timed of $N calls timed"
		expect_match "$exit" "calls_(exit|kretprobe)" "$kind sampled: the exit program runs"
	fi
	echo "$kind $mode: $(echo "$line" | sed -n 's/.*\("bpf_programs":\[[^]]*\]\).*/\1/p')"
}
log "the default mode only counts, with the entry probe alone"
lpmon calls --json --count 1 --interval 0.1 --function $F >default.json 2>/dev/null ||
	fail "lpmon calls --count 1"
expect_match "$(grep '"type":"calls"' default.json)" '"mode":"count".*"timed":0|"timed":0.*"mode":"count"' \
	"the default times no call"
for kind in kprobe fentry; do
	cheap $kind count
	cheap $kind sampled
done

klp_disable lpmon_fixes_v1
wait_for 30 "v1 unpatching completes" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod v1"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
