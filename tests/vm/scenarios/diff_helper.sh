# An edge case of lpmon build --diff on real code (tests/build/diffs/new-helper.patch):
# do_sys_settimeofday64(), which keeps a static local (firsttime), calls a new static
# helper, tz_out_of_range(), that also rejects a negative tz_dsttime. The guest boots
# 6.1.0-54, shows the old behaviour, loads the patch, shows the new one, and unpatches.
. /lib/lpmon/lib.sh
require_livepatch
patch=helper_fix

expect_eq "$(uname -r)" 6.1.0-54-amd64 "the guest runs the release the fix was built for"
expect_eq "$(tz_probe 0 -1)" accepted "6.1.0-54 accepts a negative tz_dsttime"
expect_eq "$(tz_probe 1000 0)" "rejected: Invalid argument" "and rejects more than 15 hours"

lpmon inspect "$LPMON_KMOD_DIR/$patch.ko" >inspect.txt || fail "lpmon inspect $patch.ko"
cat inspect.txt
expect_match "$(cat inspect.txt)" "do_sys_settimeofday64" "lpmon inspect lists the replaced function"

klp_load $patch
wait_for 60 "patching transition of $patch completes" klp_transition_done $patch
expect_eq "$(klp_attr $patch/vmlinux patched)" 1 "vmlinux patched"
grep -q ' tz_out_of_range' /proc/kallsyms || fail "the new helper is not in kallsyms"
ok "the new helper tz_out_of_range is loaded"

expect_eq "$(tz_probe 0 -1)" "rejected: Invalid argument" \
	"the replacement rejects a negative tz_dsttime through the new helper"
expect_eq "$(tz_probe 1000 0)" "rejected: Invalid argument" "and still rejects more than 15 hours"
expect_eq "$(tz_probe 60 0)" accepted "and accepts a valid zone"
expect_eq "$(tz_probe 0 0)" accepted "and accepts a zone again"

klp_disable $patch
wait_for 60 "unpatching transition of $patch completes" klp_gone $patch
expect_eq "$(tz_probe 0 -1)" accepted "unpatched: the old behaviour is back"
rmmod $patch || fail "rmmod $patch"
ok "module $patch unloaded"
dmesg_clean
