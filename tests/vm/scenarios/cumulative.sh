# The sample patch set in a real kernel: v1 fixes the planted bugs, cumulative v2 atomically
# replaces v1 and adds a fix, disabling v2 brings the original code back. Also measures
# the cost of a patched call with the target's call loop (figures only, no assertion).
. /lib/lpmon/lib.sh
require_livepatch

cmdline=$(cat /proc/cmdline)
klp_load lpmon_target

# call_ns FUNCTION: ns per call of the target's call loop, 1M calls.
call_ns() {
	echo "$1 1000000" >"$LPMON_TARGET_DEBUGFS/call_loop" || fail "call_loop $1"
	sed -n 's/.*ns_per_call=\([0-9.]*\).*/\1/p' "$LPMON_TARGET_DEBUGFS/call_loop"
}
unpatched_ns=$(call_ns check_len)

log "planted bugs before patching"
target_accepts check_len 65
target_accepts parse_flags 0x8
for i in 1 2 3 4 5; do target_accepts session_use 1; done

log "v1"
klp_load lpmon_fixes_v1
wait_for 30 "v1 transition completes" klp_transition_done lpmon_fixes_v1
expect_eq "$(klp_attr lpmon_fixes_v1 enabled)" 1 "v1 enabled"
target_rejects check_len 65 "Invalid argument"
target_accepts check_len 64
target_rejects parse_flags 0x8 "Invalid argument"
target_accepts parse_flags 0x7
for i in 1 2 3; do target_accepts session_use 2; done
target_rejects session_use 2 "quota|Disk quota"
expect_eq "$(cat /proc/cmdline)" "[redacted by livepatch: CVE-2099-1001]" "/proc/cmdline redacted"
params=/sys/module/lpmon_fixes_v1/parameters
expect_eq "$(cat $params/cves)" "CVE-2099-0001,CVE-2099-0002,CVE-2099-0003,CVE-2099-1001" "v1 cves"
expect_eq "$(cat $params/excluded_cves)" "" "v1 excluded cves"
expect_eq "$(cat /sys/module/lpmon_fixes_v1/version)" 1 "v1 module version"
[ ! -d "$LIVEPATCH_SYSFS/lpmon_fixes_v1/lpmon_target/lpmon_target_wait_released,1" ] ||
	fail "v1 patches lpmon_target_wait_released, a v2 fix"
ok "v1 does not carry the v2 fix"
patched_ns=$(call_ns check_len)
echo "call loop: check_len unpatched $unpatched_ns ns/call, patched (v1) $patched_ns ns/call"
echo "check_len unpatched_ns_per_call=$unpatched_ns patched_ns_per_call=$patched_ns" >call_cost.txt

log "v2 replaces v1"
klp_load lpmon_fixes_v2
wait_for 30 "v2 transition completes" klp_transition_done lpmon_fixes_v2
# Atomic replace: v1 is disabled and freed once v2's transition completes.
wait_for 10 "v1 replaced and freed" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod v1 after replace"
ok "v1 unloaded"
expect_eq "$(klp_attr lpmon_fixes_v2 enabled)" 1 "v2 enabled"
target_rejects check_len 65 "Invalid argument"
target_rejects parse_flags 0x8 "Invalid argument"
# The shadow counters v1 attached are v2's now: session 2 stays at its limit.
target_rejects session_use 2 "quota|Disk quota"
[ -d "$LIVEPATCH_SYSFS/lpmon_fixes_v2/lpmon_target/lpmon_target_wait_released,1" ] ||
	fail "v2 lacks lpmon_target_wait_released"
ok "v2 carries the new fix"
expect_match "$(cat /sys/module/lpmon_fixes_v2/parameters/cves)" "CVE-2099-0004" "v2 cves"

log "v2's new fix: a parked task can be killed"
cat "$LPMON_TARGET_DEBUGFS/park" >/dev/null &
parked_pid=$!
wait_for 10 "one task parked" target_parked_is 1
kill -9 $parked_pid
wait_for 10 "the parked task was killed" target_parked_is 0
wait $parked_pid
expect_eq "$?" 137 "parked task ended by SIGKILL"

log "disable v2"
klp_disable lpmon_fixes_v2
wait_for 30 "unpatching completes" klp_gone lpmon_fixes_v2
rmmod lpmon_fixes_v2 || fail "rmmod v2"
target_accepts check_len 65
target_accepts parse_flags 0x8
target_accepts session_use 2
expect_eq "$(cat /proc/cmdline)" "$cmdline" "/proc/cmdline is the kernel's again"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_expect "livepatch: 'lpmon_fixes_v2': patching complete" \
	"livepatch: 'lpmon_fixes_v2': unpatching complete"
dmesg_clean
