# A task asleep in a function lpmon calls observes: its call is counted at once and timed
# when it returns, and, with the default kprobes, it does not stall an unrelated livepatch
# transition. For contrast (printed, not asserted), the same with fentry/fexit: 6.1 sees the
# trampoline frame on the sleeper's stack as unreliable and the transition waits for it.
. /lib/lpmon/lib.sh
require_livepatch

W=lpmon_target_wait_released
klp_load lpmon_target
klp_load lpmon_fixes_v2
wait_for 30 "v2 transition completes" klp_transition_done lpmon_fixes_v2

# observe KIND [MODE]: lpmon calls --probe KIND --mode MODE (full) on W in the background,
# into KIND.json
observe() {
	lpmon calls --json --interval 0.5 --probe "$1" --mode "${2:-full}" --function $W >"$1.json" 2>"$1.err" &
	calls_pid=$!
	wait_for 30 "lpmon calls --probe $1 is counting" grep -q "counting calls of 1 " "$1.err"
}
# timed_is FILE N: W's last report has N timed calls
timed_is() { [ "$(calls_last "$1" $W timed)" = "$2" ]; }
# sample_patch_done: lpmon_sample (replaces cmdline_proc_show, not W) has completed patching
sample_patch_done() { klp_transition_done lpmon_sample; }
sample_unload() {
	klp_disable lpmon_sample
	wait_for 30 "lpmon_sample unpatched" klp_gone lpmon_sample
	rmmod lpmon_sample || fail "rmmod lpmon_sample"
}

log "kprobes (the default)"
observe kprobe
echo "kthreads 1" >"$LPMON_TARGET_DEBUGFS/park" || fail "park a kthread"
wait_for 10 "one kthread asleep in $W" target_parked_is 1
wait_for 10 "its call counted while in flight" calls_count_is kprobe.json $W 1
expect_eq "$(calls_last kprobe.json $W timed)" 0 "not timed before it returns"
klp_load lpmon_sample
wait_for 10 "an unrelated transition completes despite the sleeper" sample_patch_done
echo release >"$LPMON_TARGET_DEBUGFS/park" || fail "release"
wait_for 10 "the call is timed once it returns" timed_is kprobe.json 1
kill -INT $calls_pid
wait $calls_pid
expect_eq "$?" 0 "lpmon calls ends cleanly"
sample_unload

log "fentry counting only (no fexit): no trampoline frame on the sleeper's stack"
observe fentry count
echo "kthreads 1" >"$LPMON_TARGET_DEBUGFS/park" || fail "park a kthread"
wait_for 10 "one kthread asleep in $W" target_parked_is 1
wait_for 10 "its call counted" calls_count_is fentry.json $W 1
klp_load lpmon_sample
wait_for 10 "an unrelated transition completes despite the sleeper (fentry, count)" sample_patch_done
echo release >"$LPMON_TARGET_DEBUGFS/park" || fail "release"
wait_for 10 "the sleeper is gone" target_parked_is 0
kill -INT $calls_pid
wait $calls_pid
expect_eq "$?" 0 "lpmon calls --probe fentry --mode count ends cleanly"
expect_eq "$(calls_last fentry.json $W timed)" 0 "counting only: not timed"
sample_unload

log "fentry/fexit, for contrast"
observe fentry
echo "kthreads 1" >"$LPMON_TARGET_DEBUGFS/park" || fail "park a kthread"
wait_for 10 "one kthread asleep in $W" target_parked_is 1
klp_load lpmon_sample
sleep 3
echo "with fexit on $W and a task asleep in it, lpmon_sample's transition after 3 s:" \
	"$(klp_attr lpmon_sample transition) (1: still waiting for the sleeper)"
echo release >"$LPMON_TARGET_DEBUGFS/park" || fail "release"
wait_for 20 "the transition completes once the sleeper returns" sample_patch_done
kill -INT $calls_pid
wait $calls_pid
expect_eq "$?" 0 "lpmon calls --probe fentry ends cleanly"
sample_unload

klp_disable lpmon_fixes_v2
wait_for 30 "v2 unpatched" klp_gone lpmon_fixes_v2
rmmod lpmon_fixes_v2 || fail "rmmod v2"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
