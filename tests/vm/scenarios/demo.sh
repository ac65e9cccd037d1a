# The README's main job: what lpmon sees as a livepatch comes and goes in a real kernel.
# Also a vm test, so the README's first command is tested with the rest.
. /lib/lpmon/lib.sh
require_livepatch

patch=lpmon_sample
show() {
	echo
	echo "\$ $*"
	"$@"
}

echo "### 1. before patching"
show lpmon status
show cat /proc/cmdline

echo
echo "### 2. apply the sample livepatch (replaces cmdline_proc_show)"
show insmod "$LPMON_KMOD_DIR/$patch.ko" || fail "insmod $patch"
wait_for 30 "patching transition completes" klp_transition_done $patch
show lpmon status
[ $? -eq 0 ] || fail "lpmon status does not report the host as patched"
show cat /proc/cmdline

echo
echo "### 3. revert: disable, wait for the unpatching transition, unload"
show sh -c "echo 0 > $LIVEPATCH_SYSFS/$patch/enabled"
wait_for 30 "unpatching transition completes" klp_gone $patch
show rmmod $patch || fail "rmmod $patch"
show lpmon status
[ $? -eq 3 ] || fail "lpmon status does not report the host as unpatched"
show cat /proc/cmdline

echo
echo "### kernel log"
dmesg | grep -E 'livepatch|lpmon' | sed 's/^/  /'
dmesg_clean
