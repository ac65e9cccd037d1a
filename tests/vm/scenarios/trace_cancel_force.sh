# The other two ends of a transition, as the tracer reports them: "cancelled" (a pre-patch
# callback refuses after klp_init_transition) and "forced" (writing 1 to force). A tracer
# started while a transition is stuck takes it over: it reports the transition as in progress,
# the tasks blocking it, and its END, marked as begun before tracing.
. /lib/lpmon/lib.sh
require_livepatch

lpmon trace --json --tasks >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace --tasks attached" grep -q "tracing livepatch transitions" trace.err

log "cancelled: lpmon_refuse's pre-patch callback refuses"
if insmod /lpmon/kmod/lpmon_refuse.ko 2>insmod.err; then fail "insmod lpmon_refuse succeeded"; fi
expect_match "$(cat insmod.err)" "busy" "insmod fails with EBUSY"
wait_for 10 "END of lpmon_refuse traced" sh -c "grep '\"patch\":\"lpmon_refuse\"' trace.jsonl | grep -q '\"event\":\"end\"'"
refuse=$(grep '"patch":"lpmon_refuse"' trace.jsonl)
echo "$refuse"
# busybox insmod tries finit_module, then init_module: one cancelled transition per attempt.
expect_match "$(printf '%s\n' "$refuse" | json_str event | tr '\n' ' ')" '^(start end )+$' \
	"each START followed by its END"
ends=$(printf '%s\n' "$refuse" | grep '"event":"end"')
expect_eq "$(printf '%s\n' "$ends" | json_str result | sort -u)" cancelled "END result"
expect_eq "$(printf '%s\n' "$ends" | json_str direction | sort -u)" unpatching "END direction"
expect_eq "$(printf '%s\n' "$ends" | json_num rounds | sort -u)" 0 "no klp round ran"
expect_eq "$(grep -c '"type":"round"' trace.jsonl)" 0 "no round summary"

log "forced, with a second tracer started mid-transition"
klp_load lpmon_target
target_park 2
klp_load lpmon_fixes_v2
wait_for 20 "a klp round traced that left tasks blocked" lines_at_least trace.jsonl '"type":"round"' 1
lpmon trace --json --tasks >late.jsonl 2>late.err &
late_pid=$!
wait_for 30 "the late tracer attached" grep -q "tracing livepatch transitions" late.err
wait_for 15 "the late tracer reports the 3 parked tasks" \
	lines_at_least late.jsonl '"reason":"sleeping_in_function"' 3
in_progress=$(grep '"event":"in_progress"' late.jsonl)
echo "$in_progress"
expect_match "$in_progress" '"began_before_trace":true' "late tracer: in_progress, began before"
expect_eq "$(printf '%s\n' "$in_progress" | json_str patch)" lpmon_fixes_v2 "late tracer: patch"
expect_eq "$(printf '%s\n' "$in_progress" | json_str direction)" patching "late tracer: direction"
expect_eq "$(grep '"reason":"sleeping_in_function"' late.jsonl | json_num pid | sort_pids)" \
	"$PARKED_PIDS" "late tracer: the parked tasks block it"
expect_match "$(grep '"type":"round"' late.jsonl | head -n 1)" '"began_before_trace":true' \
	"late tracer: its rounds count from attach"

echo 1 >"$LIVEPATCH_SYSFS/lpmon_fixes_v2/force" || fail "force lpmon_fixes_v2"
ok "wrote 1 to lpmon_fixes_v2/force"
wait_for 15 "END traced by both tracers" sh -c \
	"grep -q '\"event\":\"end\"' late.jsonl && grep '\"patch\":\"lpmon_fixes_v2\"' trace.jsonl | grep -q '\"event\":\"end\"'"
expect_eq "$(klp_attr lpmon_fixes_v2 transition)" 0 "forced transition over"
expect_eq "$(cat $LPMON_TARGET_DEBUGFS/parked)" 3 "the tasks are still parked"
end=$(grep '"patch":"lpmon_fixes_v2"' trace.jsonl | grep '"event":"end"')
late_end=$(grep '"event":"end"' late.jsonl)
echo "$end"
echo "$late_end"
expect_eq "$(printf '%s\n' "$end" | json_str result)" forced "END result"
expect_eq "$(printf '%s\n' "$end" | json_str direction)" patching "END direction"
expect_eq "$(printf '%s\n' "$late_end" | json_str result)" forced "late tracer: END result"
expect_match "$late_end" '"began_before_trace":true' "late tracer: END marked as begun before"
expect_no_match "$late_end" '"duration_seconds"' "late tracer: no duration it cannot know"
# Both ENDs are the same kernel event: the late tracer saw the transition for less time.
cmp=$(echo "$(printf '%s\n' "$late_end" | json_num seen_seconds) $(printf '%s\n' "$end" | json_num duration_seconds)" |
	awk '{printf "seen %s s, duration %s s: %d", $1, $2, ($1 > 0 && $1 < $2)}')
expect_match "$cmp" ': 1$' "late tracer saw part of the transition ($cmp)"

lpmon trace --scan --json >scan-after.json || fail "lpmon trace --scan"
expect_match "$(cat scan-after.json)" '"not_at_target":\[\]' "scan: no task left unswitched"

echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID
wait_for 10 "no task parked" target_parked_is 0
kill -INT $trace_pid $late_pid
wait $trace_pid
expect_eq "$?" 0 "lpmon trace ends on SIGINT"
wait $late_pid
expect_eq "$?" 0 "the late lpmon trace ends on SIGINT"
klp_disable lpmon_fixes_v2
wait_for 30 "unpatching completes" klp_gone lpmon_fixes_v2
rmmod lpmon_fixes_v2 || fail "rmmod lpmon_fixes_v2"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_expect "livepatch: forcing remaining tasks to the patched state"
dmesg_clean
