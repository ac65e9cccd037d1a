# A real Debian module fix, built by `lpmon build --diff` for the release that lacks it:
# 6.1.192-3's nfsd4_sequence() preflight (CVE-2026-99362) for 6.1.0-56 (6.1.192-2). The
# patch loads before nfsd does; klp patches nfsd as it loads. (The fixed path needs an
# NFSv4.1 client with an oversized reply; the guest has none, so this checks placement.)
. /lib/lpmon/lib.sh
require_livepatch
patch=nfsd_fix

expect_eq "$(uname -r)" 6.1.0-56-amd64 "the guest runs the release the fix was built for"
[ ! -d /sys/module/nfsd ] || fail "nfsd is loaded before the test"
ok "nfsd is not loaded yet"

lpmon inspect "$LPMON_KMOD_DIR/$patch.ko" >inspect.txt || fail "lpmon inspect $patch.ko"
cat inspect.txt
expect_match "$(cat inspect.txt)" "nfsd4_sequence" "lpmon inspect lists nfsd:nfsd4_sequence"
expect_match "$(cat inspect.txt)" "CVE-2026-99362" "lpmon inspect shows the CVE from the diff"

klp_load $patch
wait_for 60 "patching transition of $patch completes" klp_transition_done $patch
expect_eq "$(klp_attr $patch enabled)" 1 "$patch enabled"
expect_eq "$(klp_attr $patch/nfsd patched)" 0 "nfsd not patched while it is not loaded"

insmod "$LPMON_KMOD_DIR/nfsd.ko" || fail "insmod nfsd"
ok "insmod nfsd (after the patch)"
expect_eq "$(klp_attr $patch/nfsd patched)" 1 "klp patched nfsd as it loaded"
[ -d "$LIVEPATCH_SYSFS/$patch/nfsd/nfsd4_sequence,1" ] ||
	fail "sysfs lacks nfsd/nfsd4_sequence,1"
ok "sysfs lists nfsd/nfsd4_sequence,1"
lpmon status >status.txt
cat status.txt
expect_match "$(cat status.txt)" "CVE-2026-99362" "lpmon status shows the CVE fixed"

klp_disable $patch
wait_for 60 "unpatching transition of $patch completes" klp_gone $patch
rmmod $patch || fail "rmmod $patch"
ok "module $patch unloaded"
rmmod nfsd || fail "rmmod nfsd"
ok "nfsd unloaded after the patch"
dmesg_clean
