# Helpers for guest scenarios (busybox sh). A scenario sources this file, runs steps,
# and exits 0 (pass), 4 (skip: the kernel lacks a feature, as the kernel selftests do)
# or anything else (fail). Files written to the current directory (/out) reach the host.

LPMON_KMOD_DIR=/lpmon/kmod
LIVEPATCH_SYSFS=/sys/kernel/livepatch

log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
fail() {
	echo "FAIL: $*"
	exit 1
}
skip() {
	echo "SKIP: $*"
	exit 4
}
ok() { echo "ok: $*"; }

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
	ok "$3 ($1)"
}

# expect_match TEXT PATTERN WHAT (grep -E pattern)
expect_match() {
	printf '%s\n' "$1" | grep -qE -- "$2" || fail "$3: '$1' does not match /$2/"
	ok "$3"
}

# expect_no_match TEXT PATTERN WHAT
expect_no_match() {
	if printf '%s\n' "$1" | grep -qE -- "$2"; then fail "$3: '$1' matches /$2/"; fi
	ok "$3"
}

# wait_for SECONDS WHAT COMMAND...: poll every 50 ms until COMMAND succeeds.
wait_for() {
	local timeout=$1 what=$2 start now
	shift 2
	start=$(cut -d' ' -f1 /proc/uptime)
	while ! "$@"; do
		now=$(cut -d' ' -f1 /proc/uptime)
		if [ "$(echo "$now $start $timeout" | awk '{print ($1 - $2 > $3)}')" = 1 ]; then
			fail "$what: not within ${timeout} s"
		fi
		usleep 50000
	done
	ok "$what (after $(echo "$(cut -d' ' -f1 /proc/uptime) $start" | awk '{printf "%.2f", $1 - $2}') s)"
}

require_livepatch() {
	[ -d "$LIVEPATCH_SYSFS" ] || skip "kernel has no livepatch support (CONFIG_LIVEPATCH)"
}

klp_attr() { cat "$LIVEPATCH_SYSFS/$1/$2" 2>/dev/null; }
# Patching: transition drops to 0. Unpatching ends with the patch freed (see klp_gone).
klp_transition_done() { [ "$(klp_attr "$1" transition)" = 0 ]; }
klp_gone() { [ ! -d "$LIVEPATCH_SYSFS/$1" ]; }

# klp_load MODULE [ARGS...]: insmod one of lpmon's modules.
klp_load() {
	local mod=$1
	shift
	insmod "$LPMON_KMOD_DIR/$mod.ko" "$@" || fail "insmod $mod"
	ok "insmod $mod"
}

# klp_disable PATCH: start the unpatching transition (never forced).
klp_disable() {
	echo 0 >"$LIVEPATCH_SYSFS/$1/enabled" || fail "disable $1"
	ok "wrote 0 to $1/enabled"
}

# dmesg_expect PATTERN...: each fixed string must appear in the kernel log.
dmesg_expect() {
	local log pattern
	log=$(dmesg)
	for pattern in "$@"; do
		printf '%s\n' "$log" | grep -qF -- "$pattern" || fail "dmesg lacks: $pattern"
		ok "dmesg: $pattern"
	done
}

# dmesg_clean: no warning, oops, BUG or panic in the kernel log.
dmesg_clean() {
	local bad
	bad=$(dmesg | grep -E 'WARNING:|Oops|BUG:|Call Trace:|general protection|Kernel panic' || true)
	[ -z "$bad" ] || fail "kernel log has warnings/oopses:
$bad"
	ok "kernel log has no warning, oops or BUG"
}

# --- lpmon_target (kmod/target): its debugfs files run its patchable functions.
LPMON_TARGET_DEBUGFS=/sys/kernel/debug/lpmon_target

# target_put FILE VALUE: write VALUE to a debugfs file; ERR holds the error message.
target_put() {
	ERR=$( (echo "$2" >"$LPMON_TARGET_DEBUGFS/$1") 2>&1)
}
target_accepts() {
	target_put "$1" "$2" || fail "$1: writing '$2' failed: $ERR"
	ok "$1 accepts '$2'"
}
# target_rejects FILE VALUE ERRNO_TEXT
target_rejects() {
	if target_put "$1" "$2"; then fail "$1: writing '$2' succeeded"; fi
	expect_match "$ERR" "$3" "$1 rejects '$2' ($3)"
}
target_parked_is() { [ "$(cat $LPMON_TARGET_DEBUGFS/parked)" = "$1" ]; }
# target_park_kthreads: pids of the lpmon_park/<i> kernel threads
target_park_kthreads() {
	local f
	for f in /proc/[0-9]*/comm; do
		case $(cat "$f" 2>/dev/null) in lpmon_park/*)
			f=${f%/comm}
			echo "${f#/proc/}"
			;;
		esac
	done
}
# target_expect_parked_in PID WHAT: the task sleeps in lpmon_target_wait_released, state I
target_expect_parked_in() {
	local where
	if [ -r "/proc/$1/stack" ]; then
		where=$(cat "/proc/$1/stack")
	else
		where=$(cat "/proc/$1/wchan")
	fi
	expect_match "$where" 'lpmon_target_wait_released' "$2 sleeps in lpmon_target_wait_released"
	# TASK_IDLE shows as I: uninterruptible, without hung-task warnings
	expect_eq "$(cut -d' ' -f3 "/proc/$1/stat")" I "$2 state"
}
