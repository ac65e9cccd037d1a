# The whole life of one livepatch in a real kernel: load, transition, patched
# behaviour, disable, unpatching transition, original behaviour, unload.
. /lib/lpmon/lib.sh
require_livepatch

patch=lpmon_sample
marker="lpmon_sample: this kernel is live patched"

original_cmdline=$(cat /proc/cmdline)
expect_no_match "$original_cmdline" "$marker" "/proc/cmdline is the kernel's before patching"

log "loading $patch"
klp_load $patch
wait_for 30 "patching transition of $patch completes" klp_transition_done $patch
expect_eq "$(klp_attr $patch enabled)" 1 "$patch enabled"
expect_eq "$(cat /proc/cmdline)" "$marker" "/proc/cmdline comes from the replacement"
[ -d "$LIVEPATCH_SYSFS/$patch/vmlinux/cmdline_proc_show,1" ] ||
	fail "sysfs lacks vmlinux/cmdline_proc_show,1"
ok "sysfs lists vmlinux/cmdline_proc_show,1"
taint=$(cat /proc/sys/kernel/tainted)
expect_eq "$(((taint >> 15) & 1))" 1 "kernel tainted with TAINT_LIVEPATCH (K)"

if command -v lpmon >/dev/null; then
	lpmon status >status-patched.txt
	expect_eq "$?" 0 "lpmon status exit code with the patch enabled"
	cat status-patched.txt
fi

log "disabling $patch"
klp_disable $patch
# A disabled patch is freed once unpatching completes (since 5.1): its sysfs
# directory going away is the end of the transition.
wait_for 30 "unpatching transition of $patch completes" klp_gone $patch
expect_eq "$(cat /proc/cmdline)" "$original_cmdline" "/proc/cmdline is the kernel's again"

rmmod $patch || fail "rmmod $patch"
[ ! -d /sys/module/$patch ] || fail "module $patch still loaded after rmmod"
ok "module $patch unloaded"

if command -v lpmon >/dev/null; then
	lpmon status >status-unpatched.txt
	expect_eq "$?" 3 "lpmon status exit code with no patch"
fi

dmesg_expect "livepatch: enabling patch '$patch'" \
	"livepatch: '$patch': starting patching transition" \
	"livepatch: '$patch': patching complete" \
	"livepatch: '$patch': starting unpatching transition" \
	"livepatch: '$patch': unpatching complete"
dmesg_clean
