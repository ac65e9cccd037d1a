# lpmon build --diff on Debian 12's 6.12 line: the cmdline-hide example fix
# (tests/vm/diff/units/cmdline-hide), built for 6.12.118+deb12 with lpmon's objtool pass,
# loaded in a guest booting that release: /proc/cmdline is hidden while it is patched.
. /lib/lpmon/lib.sh
require_livepatch
patch=cmdline612

expect_eq "$(uname -r)" 6.12.118+deb12-amd64 "the guest runs the release the fix was built for"
expect_match "$(cat /proc/cmdline)" "console=" "the command line shows before the patch"

klp_load $patch
wait_for 60 "patching transition of $patch completes" klp_transition_done $patch
expect_eq "$(klp_attr $patch/vmlinux patched)" 1 "vmlinux patched"
expect_match "$(cat /proc/cmdline)" "bytes hidden by livepatch" "the replacement runs"

klp_disable $patch
wait_for 60 "unpatching transition of $patch completes" klp_gone $patch
expect_match "$(cat /proc/cmdline)" "console=" "unpatched: the command line is back"
rmmod $patch || fail "rmmod $patch"
ok "module $patch unloaded"
dmesg_clean
