# lpmon trace --tasks names the tasks that hold a transition up, why, and where (their
# kernel stacks); lpmon trace --scan (the BPF task iterator) lists the same tasks as not
# switched, and none once they are released; the END event's duration agrees with what
# polling sysfs saw.
. /lib/lpmon/lib.sh
require_livepatch

klp_load lpmon_target
target_park 2
log "parked: $PARKED_PIDS"

lpmon trace --json --tasks >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace --tasks attached" grep -q "tracing livepatch transitions" trace.err
sysfs_poll lpmon_fixes_v2 >poll.txt &
poll_pid=$!

log "loading v2 (replaces lpmon_target_wait_released) with the tasks parked in it"
klp_load lpmon_fixes_v2
wait_for 20 "two klp rounds traced that left tasks blocked" \
	lines_at_least trace.jsonl '"type":"round"' 2

log "what the tracer reported"
blocked=$(grep '"type":"task_blocked"' trace.jsonl)
sleeping=$(printf '%s\n' "$blocked" | grep '"reason":"sleeping_in_function"')
printf '%s\n' "$blocked" | grep -v '"reason":"sleeping_in_function"' |
	sed 's/"stack":.*//' >other_blocked.txt
log "blocked for other reasons (transient): $(wc -l <other_blocked.txt)"
cat other_blocked.txt
expect_eq "$(printf '%s\n' "$sleeping" | json_num pid | sort_pids)" "$PARKED_PIDS" \
	"the tasks reported sleeping in a to-be-patched function are the parked ones"
# Reported once each, in the first round, though every round finds them again.
expect_eq "$(printf '%s\n' "$sleeping" | json_num round | sort -u)" 1 "reported in round 1 only"
expect_eq "$(printf '%s\n' "$sleeping" | json_str reason_text | sort -u)" \
	"sleeping in a to-be-patched function" "reason text"
expect_eq "$(printf '%s\n' "$sleeping" | json_str function | sort -u)" \
	lpmon_target_wait_released "function named"
expect_eq "$(printf '%s\n' "$sleeping" | json_str state | sort -u)" I "state I (TASK_IDLE)"
expect_eq "$(printf '%s\n' "$sleeping" | grep -c '"symbol":"lpmon_target_wait_released+0x[0-9a-f]* \[lpmon_target\]"')" \
	3 "each stack holds lpmon_target_wait_released [lpmon_target]"
expect_eq "$(printf '%s\n' "$sleeping" | grep -c '"symbol":"park_thread_fn+0x[0-9a-f]* \[lpmon_target\]"')" \
	2 "the kthreads' stacks go on to park_thread_fn"
expect_eq "$(printf '%s\n' "$sleeping" | grep -c '"symbol":"park_read+0x[0-9a-f]* \[lpmon_target\]"')" \
	1 "the reader's stack goes on to park_read"
rounds=$(grep '"type":"round"' trace.jsonl)
expect_eq "$(printf '%s\n' "$rounds" | json_num sleeping_in_function | sort -u)" 3 \
	"every round summary counts the 3 parked tasks"
expect_eq "$(printf '%s\n' "$rounds" | json_str direction | sort -u)" patching "rounds are patching"
# Round 1 may also find tasks that were running (lpmon trace itself): they switch by the next.
expect_eq "$(printf '%s\n' "$rounds" | grep -v '"round":1,' | json_num blocked | sort -u)" 3 \
	"from round 2 on, only the parked tasks block"

log "what the task scanner (BPF task iterator) sees"
lpmon trace --scan --json >scan-stalled.json || fail "lpmon trace --scan"
scan=$(cat scan-stalled.json)
expect_match "$scan" '"transition_patch":"lpmon_fixes_v2"' "scan: v2 in transition"
expect_match "$scan" '"target":"patched"' "scan: target patched"
expect_match "$scan" '"patch_state_available":true' "scan: task_struct has patch_state"
expect_eq "$(printf '%s\n' "$scan" | grep -o '"pid":[0-9]*' | cut -d: -f2 | sort_pids)" \
	"$PARKED_PIDS" "scan lists exactly the parked tasks as not switched"
expect_match "$scan" '"unpatched":3[,}]' "scan: 3 tasks unpatched"
expect_eq "$(printf '%s\n' "$scan" | grep -o '"symbol":"lpmon_target_wait_released+0x[0-9a-f]* \[lpmon_target\]"' | wc -l)" \
	3 "scan: each listed stack holds lpmon_target_wait_released"
for pid in $PARKED_PIDS; do
	expect_eq "$(cat /proc/$pid/patch_state)" 0 "/proc/$pid/patch_state agrees"
done
lpmon trace --scan >scan-stalled.txt || fail "lpmon trace --scan (text)"
cat scan-stalled.txt

log "releasing the parked tasks"
read -r released_at rest </proc/uptime
echo release >"$LPMON_TARGET_DEBUGFS/park"
wait_for 15 "END event traced" grep -q '"event":"end"' trace.jsonl
poll_saw_end() { [ -n "$(sysfs_edges poll.txt)" ]; }
wait_for 5 "sysfs polling saw the transition end" poll_saw_end
kill $poll_pid
wait $PARKED_USER_PID
end=$(grep '"event":"end"' trace.jsonl)
echo "$end"
expect_eq "$(printf '%s\n' "$end" | json_str result)" complete "END result"
expect_eq "$(printf '%s\n' "$end" | json_str direction)" patching "END direction"
expect_eq "$(printf '%s\n' "$end" | json_str patch)" lpmon_fixes_v2 "END patch"
rounds_at_end=$(printf '%s\n' "$end" | json_num rounds)
expect_eq "$(echo "$rounds_at_end" | awk '{print ($1 >= 3)}')" 1 "END after at least 3 rounds ($rounds_at_end)"

# BPF's START and END and sysfs's transition flag mark the same two moments: klp_init_transition
# sets klp_transition_patch, the end of klp_complete_transition clears it. So klp's retry
# interval (about 1 s) does not separate them; sampling does: each edge is seen at most one
# sampling gap late (GAP1, GAP0 as measured), and the flag drops after klp_complete_transition's
# own run (synchronize on each CPU, post-patch callbacks), bounded by 0.25 s; /proc/uptime has
# 10 ms steps. Hence: -(GAP1 + 0.02) <= sysfs - bpf <= GAP0 + 0.25 + 0.02.
duration=$(printf '%s\n' "$end" | json_num duration_seconds)
edges=$(sysfs_edges poll.txt)
echo "sysfs edges (t1 gap1 t0 gap0): $edges; END duration $duration s; released at $released_at"
verdict=$(echo "$edges $duration" | awk '{ seen = $3 - $1; d = seen - $5;
	printf "sysfs %.2f s, bpf %.3f s, difference %.3f s, allowed [%.2f, %.2f]: %d",
		seen, $5, d, -($2 + 0.02), $4 + 0.27, (d >= -($2 + 0.02) && d <= $4 + 0.27) }')
expect_match "$verdict" ': 1$' "END duration agrees with sysfs polling ($verdict)"
echo "after release: sysfs saw the end $(echo "$edges $released_at" | awk '{printf "%.2f", $3 - $5}') s later"

log "after the transition"
lpmon trace --scan --json >scan-after.json || fail "lpmon trace --scan after"
after=$(cat scan-after.json)
expect_match "$after" '"not_at_target":\[\]' "scan: no task left unswitched"
expect_match "$after" '"unpatched":0[,}]' "scan: none unpatched"
expect_match "$after" '"patched":0[,}]' "scan: none patched (idle again)"
expect_match "$after" '"transition_patch":null' "scan: no transition"
total=$(printf '%s\n' "$after" | json_num total)
expect_match "$after" "\"idle\":$total," "scan: all $total tasks idle"

kill -INT $trace_pid
wait $trace_pid
expect_eq "$?" 0 "lpmon trace ends on SIGINT"
klp_disable lpmon_fixes_v2
wait_for 30 "unpatching completes" klp_gone lpmon_fixes_v2
rmmod lpmon_fixes_v2 || fail "rmmod lpmon_fixes_v2"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
