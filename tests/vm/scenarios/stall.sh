# A transition stalls while tasks sleep in a function the patch replaces, and completes
# once they leave. Then: a patch whose pre-patch callback refuses leaves nothing behind.
. /lib/lpmon/lib.sh
require_livepatch

klp_load lpmon_target
echo "kthreads 2" >"$LPMON_TARGET_DEBUGFS/park" || fail "park kthreads"
cat "$LPMON_TARGET_DEBUGFS/park" >/dev/null &
user_pid=$!
wait_for 10 "three tasks parked" target_parked_is 3
parked_pids="$(target_park_kthreads | tr '\n' ' ')$user_pid"

log "loading v2 (replaces lpmon_target_wait_released) with tasks parked in it"
klp_load lpmon_fixes_v2
sleep 3
expect_eq "$(klp_attr lpmon_fixes_v2 transition)" 1 "transition still running after 3 s"
for pid in $parked_pids; do
	expect_eq "$(cat /proc/$pid/patch_state)" 0 "parked task $pid not switched"
done
lpmon status >status.txt
expect_eq "$?" 4 "lpmon status: in transition"
for pid in $parked_pids; do
	expect_match "$(grep 'Transition:' status.txt)" "\\b$pid\\b" "lpmon status names pending task $pid"
done
grep -A4 'Transition:' status.txt
expect_match "$(grep 'Transition:' status.txt)" 'running for [0-9.]+ s' "lpmon status: how long (kernel log)"
for pid in $parked_pids; do
	expect_match "$(grep "Blocking: *$pid " status.txt)" 'sleeping in lpmon_target_wait_released' \
		"lpmon status: why $pid blocks"
done
lpmon status --json >status.json
expect_match "$(cat status.json)" '"lpmon_target_wait_released"' "lpmon status --json: the stack"
expect_match "$(tr -d ' \n' <status.json)" '"patch_level":\{"cves":\[[^]]*"CVE-2099-0004"' \
	"lpmon status --json: the patch level's CVEs"

log "releasing the parked tasks"
echo release >"$LPMON_TARGET_DEBUGFS/park"
wait_for 15 "transition completes after release" klp_transition_done lpmon_fixes_v2
wait $user_pid
lpmon status >/dev/null
expect_eq "$?" 0 "lpmon status: patched"

klp_disable lpmon_fixes_v2
wait_for 30 "unpatching completes" klp_gone lpmon_fixes_v2
rmmod lpmon_fixes_v2 || fail "rmmod lpmon_fixes_v2"

log "a patch whose pre-patch callback refuses"
cmdline=$(cat /proc/cmdline)
if insmod /lpmon/kmod/lpmon_refuse.ko 2>insmod.err; then fail "insmod lpmon_refuse succeeded"; fi
expect_match "$(cat insmod.err)" "busy" "insmod fails with EBUSY"
[ ! -e "$LIVEPATCH_SYSFS/lpmon_refuse" ] || fail "lpmon_refuse left in sysfs"
[ ! -e /sys/module/lpmon_refuse ] || fail "lpmon_refuse module left loaded"
ok "a refused patch leaves nothing behind"
expect_eq "$(cat /proc/cmdline)" "$cmdline" "/proc/cmdline unchanged"
dmesg_expect "fix refuse-pre-patch refused to patch vmlinux: -16"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
