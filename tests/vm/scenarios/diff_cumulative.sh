# A cumulative release of fix units mixing kinds, for 6.1.0-54: timens-nsec (a real Debian
# fix as fix.patch), version-mark (fix.c) and cmdline-hide (fix.patch), built as release 2
# with CVE-2099-1101 (cmdline-hide) excluded. The diff and the fix.c unit run; the excluded
# one does not.
. /lib/lpmon/lib.sh
require_livepatch
patch=rel_fixes

cmdline=$(cat /proc/cmdline)
klp_load $patch
wait_for 60 "patching transition of $patch completes" klp_transition_done $patch
expect_eq "$(klp_attr $patch/vmlinux patched)" 1 "vmlinux patched"
expect_eq "$(timens_probe 'monotonic 0 18446744073709551615')" "rejected: Invalid argument" \
	"the diff unit (timens-nsec) runs"
expect_match "$(cat /proc/version)" "livepatched by lpmon: CVE-2099-1102" \
	"the fix.c unit (version-mark) runs"
expect_eq "$(cat /proc/cmdline)" "$cmdline" "the excluded diff unit (cmdline-hide) is not in the patch"
[ ! -d "$LIVEPATCH_SYSFS/$patch/vmlinux/cmdline_proc_show,1" ] || fail "cmdline_proc_show is patched"
ok "cmdline_proc_show is not patched"
expect_eq "$(cat /sys/module/$patch/parameters/cves)" CVE-2099-1102 "CVEs fixed"
expect_eq "$(cat /sys/module/$patch/parameters/excluded_cves)" CVE-2099-1101 "CVEs excluded"
expect_eq "$(cat /sys/module/$patch/parameters/fixes)" timens-nsec,version-mark "fixes carried"

klp_disable $patch
wait_for 60 "unpatching transition of $patch completes" klp_gone $patch
rmmod $patch || fail "rmmod $patch"
ok "module $patch unloaded"
dmesg_clean
