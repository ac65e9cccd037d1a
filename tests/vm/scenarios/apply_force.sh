# lpmon apply --force: without a confirmation it does not force (and reverses, as without
# --force); with --yes it forces v2's stalled transition over v1. The kernel then marks v1,
# which v2 replaces, as forced: revert cannot unload v1's module and says so (13), while v2
# itself can still be reverted and unloaded.
. /lib/lpmon/lib.sh
require_livepatch

klp_load lpmon_target
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v1.ko --audit-log audit.log >v1.txt 2>&1 || fail "apply v1"
ok "v1 applied"
target_park 2

log "--force with no terminal to confirm on and no --yes: not forced"
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v2.ko --timeout 3s --force --audit-log audit.log \
	</dev/null >unconfirmed.txt 2>unconfirmed.err
expect_eq "$?" 12 "unconfirmed --force: rolled back"
expect_match "$(cat unconfirmed.err)" 'not forcing: stdin is not a terminal' "unconfirmed --force: says why"
[ ! -e /sys/module/lpmon_fixes_v2 ] || fail "v2 module still loaded"
ok "v2 reversed and unloaded"
expect_eq "$(klp_attr lpmon_fixes_v1 enabled)" 1 "v1 still enabled"

log "--force --yes: forced"
lpmon apply $LPMON_KMOD_DIR/lpmon_fixes_v2.ko --timeout 3s --force --yes --json \
	--audit-log audit.log >forced.json 2>forced.err
expect_eq "$?" 0 "forced apply: exit code"
cat forced.err
expect_match "$(cat forced.json)" '"forced":true' "forced apply: says it forced"
expect_match "$(cat forced.json)" '"result":"applied"' "forced apply: applied"
expect_match "$(cat forced.json)" '"replaced":\["lpmon_fixes_v1"\]' "forced apply: v1 replaced"
expect_eq "$(klp_attr lpmon_fixes_v2 transition)" 0 "v2 no longer in transition"
grep -q '"event":"force"' audit.log || fail "the audit log lacks the force"
ok "the audit log records the force"

log "v1, replaced by a forced transition, can never be unloaded"
lpmon revert lpmon_fixes_v1 --json --audit-log audit.log >revert-v1.json 2>revert-v1.err
expect_eq "$?" 13 "revert v1: rollback incomplete"
cat revert-v1.json
expect_match "$(cat revert-v1.json)" 'cannot unload module lpmon_fixes_v1: it is in use' \
	"revert v1 says what is left"
[ -e /sys/module/lpmon_fixes_v1 ] || fail "the forced module was unloaded"
ok "v1's module stays loaded, as the kernel requires"

echo release >"$LPMON_TARGET_DEBUGFS/park"
wait $PARKED_USER_PID
lpmon revert lpmon_fixes_v2 --audit-log audit.log >revert-v2.txt 2>&1
expect_eq "$?" 0 "revert v2"
[ ! -e /sys/module/lpmon_fixes_v2 ] || fail "v2 module still loaded"
ok "v2 reverted and unloaded"
