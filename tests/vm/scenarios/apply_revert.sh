# lpmon apply and revert in the real kernel: a passing gate keeps the patch; tasks parked in a
# function the patch replaces make the transition outrun the gate's 5 s, and apply reverses it
# and unloads the module; revert undoes a patch; a trace running beside shows every step; bad
# input and a busy kernel change nothing.
. /lib/lpmon/lib.sh
require_livepatch

cat >good.yaml <<'YAML'
checks:
  - name: transition
    local: {kind: transitionFinished, within: 30s}
  - name: no-blockers
    local: {kind: noBlockingTasks}
  - name: taint
    local: {kind: noNewTaint}
    count: 2
    interval: 1s
YAML
cat >stall.yaml <<'YAML'
checks:
  - name: transition
    local: {kind: transitionFinished, within: 5s}
YAML
audit=/out/audit.log

klp_load lpmon_target
target_accepts check_len 65 # CVE-2099-0001, fixed by v1
lpmon trace --json --tasks --calls >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err

log "apply v1 behind a gate that passes"
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --gate good.yaml --json --audit-log $audit \
	>apply-v1.json 2>apply-v1.err
expect_eq "$?" 0 "apply v1: exit code"
cat apply-v1.err
expect_match "$(cat apply-v1.json)" '"result":"applied"' "apply v1: applied"
expect_match "$(cat apply-v1.json)" '"followed_by":"bpf"' "apply v1: followed through BPF"
expect_match "$(cat apply-v1.json)" '"verdict":"Successful"' "apply v1: gate passed"
expect_eq "$(klp_attr lpmon_fixes_v1 enabled)" 1 "v1 enabled"
expect_eq "$(klp_attr lpmon_fixes_v1 transition)" 0 "v1 not in transition"
target_rejects check_len 65 "Invalid argument"
echo "check_len 1000" >"$LPMON_TARGET_DEBUGFS/call_loop" || fail "call loop"
check_len_calls_at_least() { [ "$(calls_last trace.jsonl lpmon_target_check_len calls)" -ge "$1" ] 2>/dev/null; }
wait_for 15 "lpmon trace --calls counts the calls of check_len" check_len_calls_at_least 1000
notice=$(json_num notice_latency_seconds <apply-v1.json)
log "apply noticed the end of the transition $notice s after the kernel"

log "applying it again changes nothing"
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --json --audit-log $audit >again.json
expect_eq "$?" 0 "apply v1 again: exit code"
expect_match "$(cat again.json)" '"changed":false' "apply v1 again: unchanged"

log "revert v1"
lpmon revert lpmon_fixes_v1 --json --audit-log $audit >revert-v1.json
expect_eq "$?" 0 "revert v1: exit code"
expect_match "$(cat revert-v1.json)" '"result":"reverted"' "revert v1: reverted"
klp_gone lpmon_fixes_v1 || fail "v1 still in sysfs"
[ ! -e /sys/module/lpmon_fixes_v1 ] || fail "v1 module still loaded"
ok "v1 disabled and unloaded"
target_accepts check_len 65
lpmon revert lpmon_fixes_v1 --json --audit-log $audit >revert-again.json
expect_eq "$?" 0 "revert v1 again: exit code"
expect_match "$(cat revert-again.json)" '"changed":false' "revert v1 again: unchanged"

log "apply v2 with tasks parked in the function it replaces; the gate allows 5 s"
target_park 2
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v2.ko --gate stall.yaml --json --audit-log $audit \
	>apply-v2.json 2>apply-v2.err
expect_eq "$?" 12 "apply v2: exit code (rolled back)"
cat apply-v2.err
expect_match "$(cat apply-v2.json)" '"result":"reverted"' "apply v2: reverted"
expect_match "$(cat apply-v2.json)" 'did not finish within 5s' "apply v2: the reason"
for pid in $PARKED_PIDS; do
	expect_match "$(cat apply-v2.json)" "\"pid\":$pid[,}]" "apply v2 names blocking task $pid"
done
klp_gone lpmon_fixes_v2 || fail "v2 still in sysfs"
[ ! -e /sys/module/lpmon_fixes_v2 ] || fail "v2 module still loaded"
ok "v2 reversed and unloaded"
lpmon status >status.txt
expect_eq "$?" 3 "lpmon status afterwards: unpatched"
expect_eq "$(cat $LPMON_TARGET_DEBUGFS/parked)" 3 "the tasks are still parked, untouched"

log "a transition that is running makes apply refuse"
insmod $LPMON_KMOD_DIR/lpmon_fixes_v2.ko || fail "insmod v2"
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --audit-log $audit 2>busy.err
expect_eq "$?" 14 "apply during another transition: exit code"
expect_match "$(cat busy.err)" 'lpmon_fixes_v2 is in transition' "apply names the transition"
[ ! -e /sys/module/lpmon_fixes_v1 ] || fail "v1 was loaded"
log "revert of the stalled v2 reverses its transition"
lpmon revert lpmon_fixes_v2 --audit-log $audit >revert-v2.txt 2>&1
expect_eq "$?" 0 "revert v2 mid-transition: exit code"
[ ! -e /sys/module/lpmon_fixes_v2 ] || fail "v2 module still loaded"
echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID

log "bad input changes nothing"
lpmon apply /nonexistent.ko 2>err.txt
expect_eq "$?" 7 "missing file"
lpmon apply $LPMON_KMOD_DIR/lpmon_target.ko 2>err.txt
expect_eq "$?" 10 "not a livepatch"
expect_match "$(cat err.txt)" 'not a livepatch' "not a livepatch: the message"
printf 'checks:\n  - name: x\n    local: {kind: transitionFinished, within: 5s}\n    bogus: 1\n' >bad.yaml
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --gate bad.yaml 2>err.txt
expect_eq "$?" 6 "gate file with an unknown key"
expect_match "$(cat err.txt)" 'bad.yaml:4' "the message names the line"
lpmon revert 'not a name!' 2>err.txt
expect_eq "$?" 6 "revert of a bad name"
[ -z "$(ls $LIVEPATCH_SYSFS)" ] || fail "a patch was left: $(ls $LIVEPATCH_SYSFS)"
ok "no patch loaded after the bad input"

log "the trace beside it saw every step"
kill -INT $trace_pid
wait $trace_pid
ends=$(grep '"event":"end"' trace.jsonl)
printf '%s\n' "$ends"
expect_match "$(printf '%s\n' "$ends" | grep lpmon_fixes_v1 | json_str result | tr '\n' ' ')" \
	'^complete complete $' "trace: v1 patched, then unpatched"
expect_match "$(printf '%s\n' "$ends" | grep lpmon_fixes_v2 | json_str result | tr '\n' ' ')" \
	'^reversed reversed $' "trace: v2 reversed twice"
expect_match "$(grep '"event":"reverse"' trace.jsonl | json_str patch | tr '\n' ' ')" \
	'^lpmon_fixes_v2 lpmon_fixes_v2 $' "trace: the two reversals"

log "the audit log recorded each step"
cat $audit
for event in load transition-end gate applied disable unload transition-timeout reverted; do
	grep -q "\"event\":\"$event\"" $audit || fail "audit log lacks $event"
done
ok "audit log has every step"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
