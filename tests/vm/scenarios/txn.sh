# lpmon apply and revert as a transaction: kill -9 after the load, in the middle of a stalled
# transition and during the gate each leave a journal that lpmon status reports and that the
# next apply converges (rolls back) before its own work; SIGTERM rolls back cleanly; two runs
# never interleave (the second waits, or with --no-wait exits 15).
. /lib/lpmon/lib.sh
require_livepatch

journal=/var/lib/lpmon/journal
audit=/out/audit.log
journal_step_is() { grep -q "\"step\":\"$1\"" $journal 2>/dev/null; }
module_loaded() { [ -e /sys/module/$1 ]; }
# The host is clean: no patch, no patch module, no journal.
expect_clean() {
	[ -z "$(ls $LIVEPATCH_SYSFS)" ] || fail "$1: a patch was left: $(ls $LIVEPATCH_SYSFS)"
	module_loaded lpmon_fixes_v1 && fail "$1: lpmon_fixes_v1 still loaded"
	module_loaded lpmon_fixes_v2 && fail "$1: lpmon_fixes_v2 still loaded"
	[ ! -e $journal ] || fail "$1: the journal is left: $(cat $journal)"
	ok "$1: clean"
}
# status_reports STEP: lpmon status (text and --json) reports the interrupted run at STEP.
status_reports() {
	lpmon status >status.txt
	grep -E 'Interrupted|Running' status.txt
	expect_match "$(grep 'Interrupted:' status.txt)" "lpmon apply of $2 .*stopped at its step '$1'" \
		"lpmon status reports the interrupted apply of $2 at '$1'"
	lpmon status --json | tr -d ' \n' >status.json
	expect_match "$(cat status.json)" "\"interrupted\":\\{[^}]*\"patch\":\"$2\"" \
		"lpmon status --json: the interrupted run's patch"
	expect_match "$(cat status.json)" "\"interrupted\":\\{[^}]*\"step\":\"$1\"" \
		"lpmon status --json: its step"
	expect_match "$(cat status.json)" '"running":false' "lpmon status --json: no run holds the lock"
}

klp_load lpmon_target

log "kill -9 right after the load"
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --audit-log $audit >/dev/null 2>kill-load.err &
apply_pid=$!
while ! module_loaded lpmon_fixes_v1; do :; done
kill -9 $apply_pid
wait $apply_pid
expect_eq "$?" 137 "apply killed"
cat $journal
step=$(json_str step <$journal)
case "$step" in load | transition | gate) ;; *) fail "journal step after the load: '$step'" ;; esac
status_reports "$step" lpmon_fixes_v1
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --json --audit-log $audit >converge-load.json \
	2>converge-load.err
expect_eq "$?" 0 "the next apply: exit code"
cat converge-load.err
expect_match "$(cat converge-load.err)" 'finishing an interrupted run: lpmon apply of lpmon_fixes_v1' \
	"the next apply says it converges the interrupted run first"
expect_match "$(cat converge-load.json)" '"recovered":"[^"]*rolled back' "--json: what it converged"
expect_match "$(cat converge-load.json)" '"result":"applied"' "then applies v1 itself"
[ ! -e $journal ] || fail "journal left after the apply"
lpmon revert lpmon_fixes_v1 --audit-log $audit >/dev/null || fail "revert v1"
expect_clean "after the kill -9 after the load"

log "kill -9 in the middle of a stalled transition"
target_park 2
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v2.ko --timeout 120s --audit-log $audit >/dev/null \
	2>kill-transition.err &
apply_pid=$!
wait_for 30 "apply follows the transition" journal_step_is transition
expect_eq "$(klp_attr lpmon_fixes_v2 transition)" 1 "v2 in transition"
kill -9 $apply_pid
wait $apply_pid
status_reports transition lpmon_fixes_v2
lpmon status >/dev/null
expect_eq "$?" 4 "lpmon status: in transition"
log "the next apply (tasks still parked) reverses the stalled transition first"
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v2.ko --timeout 5s --json --audit-log $audit \
	>converge-transition.json 2>converge-transition.err
expect_eq "$?" 12 "the next apply: its own transition outruns 5s and is rolled back"
cat converge-transition.err
expect_match "$(cat converge-transition.json)" '"recovered":"[^"]*stopped at its step .transition.: rolled back' \
	"the interrupted run was rolled back first"
echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID
expect_clean "after the kill -9 mid-transition"

log "kill -9 during the gate"
cat >slow-gate.yaml <<'YAML'
checks:
  - name: taint
    local: {kind: noNewTaint}
    count: 10
    interval: 10s
YAML
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --gate slow-gate.yaml --audit-log $audit \
	>/dev/null 2>kill-gate.err &
apply_pid=$!
wait_for 30 "apply runs the gate" journal_step_is gate
kill -9 $apply_pid
wait $apply_pid
expect_eq "$(klp_attr lpmon_fixes_v1 enabled)" 1 "v1 left enabled by the killed run"
status_reports gate lpmon_fixes_v1
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --json --audit-log $audit >converge-gate.json \
	2>converge-gate.err
expect_eq "$?" 0 "the next apply: exit code"
expect_match "$(cat converge-gate.json)" '"recovered":"[^"]*step .gate.: rolled back' \
	"the patch whose gate never ended was rolled back first"
expect_match "$(cat converge-gate.json)" '"result":"applied"' "then applied again"
lpmon revert lpmon_fixes_v1 --audit-log $audit >/dev/null || fail "revert v1"
expect_clean "after the kill -9 during the gate"

log "SIGTERM during a stalled transition rolls back"
target_park 2
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v2.ko --timeout 120s --json --audit-log $audit \
	>term.json 2>term.err &
apply_pid=$!
wait_for 30 "apply follows the transition" journal_step_is transition
kill -TERM $apply_pid
wait $apply_pid
expect_eq "$?" 16 "apply stopped by SIGTERM: exit code"
cat term.err
expect_match "$(cat term.json)" '"result":"reverted"' "SIGTERM: reverted"
expect_match "$(cat term.json)" 'interrupted by SIGTERM' "SIGTERM: the reason"
expect_clean "after SIGTERM"

log "two runs never interleave"
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v2.ko --timeout 120s --audit-log $audit >first.out \
	2>first.err &
first_pid=$!
wait_for 30 "the first apply follows the transition" journal_step_is transition
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --no-wait --audit-log $audit 2>nowait.err
expect_eq "$?" 15 "a second apply with --no-wait: exit code"
expect_match "$(cat nowait.err)" "another lpmon apply or revert \\(pid $first_pid\\) holds" \
	"--no-wait: names the run holding the lock"
lpmon status >status.txt
expect_match "$(grep 'Running:' status.txt)" "pid $first_pid.*apply of lpmon_fixes_v2" \
	"lpmon status shows the running apply"
lpmon revert lpmon_fixes_v2 --json --audit-log $audit >second.json 2>second.err &
second_pid=$!
wait_for 30 "the revert waits for the lock" grep -q "waiting for another lpmon apply" second.err
sleep 2
kill -0 $second_pid 2>/dev/null || fail "the revert did not wait"
expect_eq "$(klp_attr lpmon_fixes_v2 enabled)" 1 "v2 untouched while the apply runs"
echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID
wait $first_pid
expect_eq "$?" 0 "the first apply: applied"
wait $second_pid
expect_eq "$?" 0 "the revert, after it: reverted"
expect_match "$(cat second.json)" '"result":"reverted"' "the revert reverted v2"
# In the audit log, the apply's last record comes before the revert's first.
applied=$(grep -n '"command":"apply","event":"applied"' $audit | tail -1 | cut -d: -f1)
reverted=$(grep -n '"command":"revert","event":"revert"' $audit | tail -1 | cut -d: -f1)
[ -n "$applied" ] && [ -n "$reverted" ] && [ "$applied" -lt "$reverted" ] ||
	fail "audit log: apply's end (line $applied) before the revert (line $reverted)"
ok "the revert ran after the apply had ended"
expect_clean "after the concurrent runs"

rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
