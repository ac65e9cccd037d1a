# A real Debian fix, built by `lpmon build --diff` for the older release it is missing from:
# 6.1.192-1 validates the nanoseconds of a time namespace offset in
# proc_timens_set_offset(); 6.1.0-54 (6.1.190-1) accepts a nanosecond field of 2^64-1 (read back as -1). The guest boots
# 6.1.0-54, shows the old behaviour, loads the patch, shows the fixed one, and unpatches.
. /lib/lpmon/lib.sh
require_livepatch
patch=timens_fix

expect_eq "$(uname -r)" 6.1.0-54-amd64 "the guest runs the release the fix was built for"
expect_eq "$(timens_probe 'monotonic 0 18446744073709551615')" accepted \
	"6.1.0-54 accepts a negative (2^64-1) nanosecond offset (the bug)"
expect_eq "$(timens_probe 'monotonic 0 5')" accepted "a valid offset is accepted"

lpmon inspect "$LPMON_KMOD_DIR/$patch.ko" >inspect.txt || fail "lpmon inspect $patch.ko"
cat inspect.txt
expect_match "$(cat inspect.txt)" "proc_timens_set_offset" "lpmon inspect lists the replaced function"

klp_load $patch
wait_for 60 "patching transition of $patch completes" klp_transition_done $patch
expect_eq "$(klp_attr $patch enabled)" 1 "$patch enabled"
expect_eq "$(klp_attr $patch/vmlinux patched)" 1 "vmlinux patched"
[ -d "$LIVEPATCH_SYSFS/$patch/vmlinux/proc_timens_set_offset,1" ] ||
	fail "sysfs lacks vmlinux/proc_timens_set_offset,1"
ok "sysfs lists vmlinux/proc_timens_set_offset,1"

expect_eq "$(timens_probe 'monotonic 0 18446744073709551615')" "rejected: Invalid argument" \
	"the replacement rejects a negative (2^64-1) nanosecond offset (the fix)"
expect_eq "$(timens_probe 'monotonic 0 5')" accepted "the replacement still accepts a valid offset"
expect_eq "$(timens_probe 'monotonic 0 18446744073709551615')" "rejected: Invalid argument" "and again"
lpmon status >status.txt
cat status.txt

klp_disable $patch
wait_for 60 "unpatching transition of $patch completes" klp_gone $patch
expect_eq "$(timens_probe 'monotonic 0 18446744073709551615')" accepted "unpatched: the old behaviour is back"
rmmod $patch || fail "rmmod $patch"
ok "module $patch unloaded"
dmesg_clean
