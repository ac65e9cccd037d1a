# Guest side of the livepatch selftest scenarios (sourced after /lib/lpmon/lib.sh; installed as
# /lpmon/kselftest/guest.sh by livepatch_selftests.sh beside it).
#
# Adapted for the busybox guest, nothing else: the scripts run unmodified under bash-static;
# their `modprobe`/`modinfo` are the host's kmod, with the modules in /lib/modules/REL/extra
# indexed by depmod here; GNU comm, mktemp, diff, stat (also as /bin/stat, which
# check_sysfs_rights calls by path) and procps' sysctl come first in PATH, since the scripts use
# options, and compare messages, that busybox's lack.

KSELFTEST_DIR=/lpmon/kselftest/livepatch
KSELFTEST_EXTRA=/lib/modules/$(uname -r)/extra
KSELFTEST_SCRIPTS="test-livepatch.sh test-callbacks.sh test-shadow-vars.sh test-state.sh
test-ftrace.sh test-sysfs.sh"

# kselftest_setup: the tools the scripts expect, checked.
kselftest_setup() {
	local tools=/usr/local/bin tool
	mkdir -p /tmp
	for tool in modprobe modinfo depmod; do ln -sf kmod $tools/$tool; done
	ln -sf $tools/stat /bin/stat
	# For bash; busybox sh runs its own applets whatever PATH says, hence full paths here.
	export PATH=$tools:$PATH
	$tools/depmod -a 2>depmod.err || fail "depmod: $(cat depmod.err)"
	$tools/modprobe --dry-run test_klp_livepatch || fail "modprobe cannot find test_klp_livepatch"
	expect_eq "$($tools/modinfo -F livepatch test_klp_livepatch)" Y "modinfo reads the test modules"
	[ -x /bin/bash ] || fail "no /bin/bash in the guest"
	expect_eq "$(bash -c 'command -v modprobe')" $tools/modprobe "bash finds kmod's modprobe first"
}

# kselftest_run_all TAG: each selftest script as it is, output in selftest-TAG-NAME.log.
# Sets KSELFTEST_FAILED to the scripts that did not exit 0 (4, kselftest's skip, included:
# this kernel has everything they need).
kselftest_run_all() {
	local script rc
	KSELFTEST_FAILED=
	for script in $KSELFTEST_SCRIPTS; do
		[ -f "$KSELFTEST_DIR/$script" ] || fail "$script is missing from $KSELFTEST_DIR"
		log "selftest $script"
		(cd $KSELFTEST_DIR && bash ./$script) >"selftest-$1-${script%.sh}.log" 2>&1
		rc=$?
		cat "selftest-$1-${script%.sh}.log"
		if [ $rc -eq 0 ]; then ok "selftest $script passed"; else
			echo "FAIL: selftest $script exited $rc"
			KSELFTEST_FAILED="$KSELFTEST_FAILED $script"
		fi
	done
}

# klp_durations PATCH_RE: "PATCH DIRECTION SECONDS" per transition in the kernel log on stdin
# (timestamps kept), from "starting ... transition" to "... complete": what klp's first try
# and its retries took, without the patch's setup before it.
klp_durations() {
	sed -E -n \
		-e "s/^\\[ *([0-9.]+)\\] livepatch: '($1)': starting (patching|unpatching) transition$/start \\2 \\3 \\1/p" \
		-e "s/^\\[ *([0-9.]+)\\] livepatch: '($1)': (patching|unpatching) complete$/end \\2 \\3 \\1/p" |
		awk '$1 == "start" { t = $4 } $1 == "end" { printf "%s %s %.3f\n", $2, $3, $4 - t }'
}
