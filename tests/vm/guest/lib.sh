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

# wait_for SECONDS WHAT COMMAND...: poll every 50 ms until COMMAND succeeds. The bound only
# catches a hang, never slowness: a TCG guest on a loaded host can be many times slower, so
# no bound is shorter than WAIT_FOR_MIN_S.
WAIT_FOR_MIN_S=60
wait_for() {
	local timeout=$1 what=$2 start now
	shift 2
	[ "$timeout" -ge "$WAIT_FOR_MIN_S" ] || timeout=$WAIT_FOR_MIN_S
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

# threads_within PID MASK WHAT [N WIDER_MASK]: every thread of PID holds no capability outside
# MASK (a number) in any of its sets, bounding set included, and has no_new_privs; up to N
# threads may hold WIDER_MASK instead (and at least one, when N is given).
threads_within() {
	local pid=$1 mask=$(($2)) what=$3 wider_n=${4:-0} wider=$((${5:-0}))
	local n=0 n_wider=0 file key value tid held nnp name
	# One grep for every thread (the web server has over a hundred), then shell arithmetic:
	# lines "/proc/P/task/T/status:Key:\tvalue", each thread's Name first, NoNewPrivs last.
	check_thread() {
		[ -n "$tid" ] || return 0
		if [ $((held & ~mask)) -ne 0 ]; then
			[ $((held & ~wider)) -eq 0 ] && [ "$n_wider" -lt "$wider_n" ] ||
				fail "$what: thread $tid ($name) holds $(printf '%#x' "$held")"
			n_wider=$((n_wider + 1))
			log "$what: thread $tid ($name) holds $(printf '%#x' "$held") (the wider set)"
		fi
		[ "$nnp" = 1 ] || fail "$what: thread $tid ($name) lacks no_new_privs"
		n=$((n + 1))
	}
	tid=
	while IFS=: read -r file key value; do
		value=${value#"${value%%[![:space:]]*}"}
		case $key in
		Name)
			check_thread
			tid=${file%/status}
			tid=${tid##*/}
			name=$value held=0 nnp=
			;;
		CapInh | CapPrm | CapEff | CapBnd | CapAmb) held=$((held | 0x$value)) ;;
		NoNewPrivs) nnp=$value ;;
		esac
	done <<EOF_STATUS
$(grep -H -E '^(Name|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/$pid/task/*/status)
EOF_STATUS
	check_thread
	[ "$n" -gt 1 ] || fail "$what: $n thread(s), expected the web server's too"
	[ "$wider_n" -eq 0 ] || [ "$n_wider" -ge 1 ] || fail "$what: no thread holds the wider set"
	ok "$what: $n threads hold at most $(printf '%#x' "$mask") ($n_wider at most $(printf '%#x' "$wider")), with no_new_privs"
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

# --- lpmon trace --tasks and lpmon trace --scan: parked tasks, JSON lines, sysfs sampling

# sort_pids: the numbers on stdin, ascending, on one line separated by single spaces
sort_pids() { tr -s ' ' '\n' | grep . | sort -n | tr '\n' ' ' | sed 's/ $//'; }

# target_park KTHREADS: park KTHREADS kernel threads and one user task (a blocking read of the
# park file) in lpmon_target_wait_released. Sets PARKED_PIDS (ascending) and PARKED_USER_PID.
target_park() {
	echo "kthreads $1" >"$LPMON_TARGET_DEBUGFS/park" || fail "park $1 kthreads"
	cat "$LPMON_TARGET_DEBUGFS/park" >/dev/null &
	PARKED_USER_PID=$!
	wait_for 10 "$(($1 + 1)) tasks parked" target_parked_is $(($1 + 1))
	PARKED_PIDS=$( (target_park_kthreads && echo $PARKED_USER_PID) | sort_pids)
}

# json_str KEY, json_num KEY: KEY's string or number value on each line of stdin that has it
# (the last one when a line has several); lines are lpmon's --json objects.
json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
json_num() { sed -n "s/.*\"$1\":\\(-\\{0,1\\}[0-9][0-9.e+-]*\\).*/\\1/p"; }

# lines_at_least FILE PATTERN N: at least N lines of FILE match PATTERN (grep -E)
lines_at_least() { [ "$(grep -cE -- "$2" "$1" 2>/dev/null)" -ge "$3" ]; }

# sysfs_poll PATCH: "UPTIME TRANSITION" every 50 ms until killed, TRANSITION empty while the
# patch has no sysfs directory. Shell builtins only: a sample forks nothing but usleep.
sysfs_poll() {
	local file="$LIVEPATCH_SYSFS/$1/transition" up rest v
	while :; do
		read -r up rest </proc/uptime
		v=
		[ -r "$file" ] && read -r v <"$file"
		echo "$up $v"
		usleep 50000
	done
}

# sysfs_edges FILE: from sysfs_poll's output, "T1 GAP1 T0 GAP0": the first sample that saw
# the transition (1) and the first one after it that saw it over (0), each with the time since
# the sample before it (how late it may have seen the change). Nothing when either is missing.
sysfs_edges() {
	awk 'seen == 0 && $2 == "1" { t1 = $1; g1 = $1 - prev; seen = 1 }
	     seen == 1 && $2 == "0" { printf "%s %.2f %s %.2f\n", t1, g1, $1, $1 - prev; exit }
	     { prev = $1 }' "$1"
}

# --- lpmon calls --json: one "calls" object per function and interval, plus "attached",
# "detached", "attach_failed" and "over_limit" objects (keys sorted, no spaces).

# calls_last FILE FUNCTION KEY: KEY's number in FUNCTION's last "calls" object of FILE
calls_last() {
	grep '"type":"calls"' "$1" | grep "\"function\":\"$2\"" | tail -1 |
		sed -n "s/.*\"$3\":\([0-9][0-9.e+-]*\).*/\1/p"
}
# calls_count_is FILE FUNCTION N: FUNCTION's last reported call count is N
calls_count_is() { [ "$(calls_last "$1" "$2" calls)" = "$3" ]; }
# calls_events FILE TYPE FUNCTION: how many TYPE objects FILE has for FUNCTION
calls_events() { grep "\"type\":\"$2\"" "$1" | grep -c "\"function\":\"$3\""; }
# calls_event FILE TYPE FUNCTION [N]: FILE has at least N (1) TYPE objects for FUNCTION
calls_event() { [ "$(calls_events "$1" "$2" "$3")" -ge "${4:-1}" ]; }

# --- host drivers: a guest scenario and the host script beside it take turns

# host_says WORD: wait until the host driver sends WORD to the guest's port 7000 (forwarded
# from the host), after telling it, on stdout, "waiting for the host: WORD".
host_says() {
	echo "waiting for the host: $1"
	while [ "$(nc -l -p 7000 </dev/null 2>/dev/null | tr -d '\r\n')" != "$1" ]; do :; done
	ok "the host said $1"
}
