# Disabling a patch whose transition is stuck reverses it: the tracer shows the reversal and
# an END "reversed"/"unpatching", which comes while the tasks are still parked (they never left
# the unpatched state, the new target), and the task scanner then finds nothing unswitched.
. /lib/lpmon/lib.sh
require_livepatch

klp_load lpmon_target
target_park 2

lpmon trace --json --tasks >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace --tasks attached" grep -q "tracing livepatch transitions" trace.err

klp_load lpmon_fixes_v2
wait_for 20 "a klp round traced that left tasks blocked" lines_at_least trace.jsonl '"type":"round"' 1
expect_eq "$(grep '"type":"task_blocked"' trace.jsonl | grep '"reason":"sleeping_in_function"' |
	json_num pid | sort_pids)" "$PARKED_PIDS" "the parked tasks block patching"

log "disabling v2 mid-transition"
klp_disable lpmon_fixes_v2
wait_for 15 "END event traced" grep -q '"event":"end"' trace.jsonl
expect_eq "$(cat $LPMON_TARGET_DEBUGFS/parked)" 3 "the tasks are still parked at the END"
reverse=$(grep '"event":"reverse"' trace.jsonl)
expect_eq "$(printf '%s\n' "$reverse" | json_str direction)" unpatching "reverse event: new direction"
end=$(grep '"event":"end"' trace.jsonl)
echo "$end"
expect_eq "$(printf '%s\n' "$end" | json_str result)" reversed "END result"
expect_eq "$(printf '%s\n' "$end" | json_str direction)" unpatching "END direction"
expect_eq "$(printf '%s\n' "$end" | json_str patch)" lpmon_fixes_v2 "END patch"
expect_eq "$(grep -c '"event":"start"' trace.jsonl)" 1 "one START"
# Unpatching checks stacks for v2's replacement, which no task entered.
expect_eq "$(grep '"type":"task_blocked"' trace.jsonl | grep '"direction":"unpatching"' |
	grep -c '"reason":"sleeping_in_function"')" 0 "no task blocks the reversal in a function"
wait_for 10 "the disabled patch is freed" klp_gone lpmon_fixes_v2

lpmon trace --scan --json >scan-after.json || fail "lpmon trace --scan"
after=$(cat scan-after.json)
expect_match "$after" '"not_at_target":\[\]' "scan: no task left unswitched"
expect_match "$after" '"unpatched":0[,}]' "scan: none unpatched"
expect_match "$after" '"patched":0[,}]' "scan: none patched"

log "releasing the parked tasks"
echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID
wait_for 10 "no task parked" target_parked_is 0
kill -INT $trace_pid
wait $trace_pid
expect_eq "$?" 0 "lpmon trace ends on SIGINT"
expect_eq "$(grep -c '"event":"end"' trace.jsonl)" 1 "one END"
rmmod lpmon_fixes_v2 || fail "rmmod lpmon_fixes_v2"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_expect "livepatch: 'lpmon_fixes_v2': unpatching complete"
dmesg_clean
