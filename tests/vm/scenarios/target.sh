# lpmon_target, the module that sample livepatches patch: its patchable symbols,
# its planted bugs, the call_loop benchmark, the park point, and safe unloading.
. /lib/lpmon/lib.sh

mod=lpmon_target
dbg=$LPMON_TARGET_DEBUGFS
loaded() { [ -d /sys/module/$mod ]; }

log "loading $mod"
klp_load $mod
[ -d $dbg ] || fail "no $dbg"
ok "$dbg exists"

# Livepatches replace these by name: each exactly once, never a gcc clone.
syms=$(grep "	\[$mod\]\$" /proc/kallsyms)
printf '%s\n' "$syms" >kallsyms.txt
for f in check_len parse_flags session_use wait_released; do
	line=$(printf '%s\n' "$syms" | grep -E "^[0-9a-f]+ [tT] lpmon_target_$f	\[$mod\]\$")
	expect_eq "$(printf '%s\n' "$line" | grep -c .)" 1 "kallsyms: lpmon_target_$f"
	echo "$line"
	expect_no_match "$syms" " lpmon_target_$f\." "no clone of lpmon_target_$f"
done
expect_match "$syms" " lpmon_target_park	" "kallsyms: lpmon_target_park (park state)"

# Planted bugs, as the unpatched module behaves.
target_accepts check_len 0
target_accepts check_len 64
target_accepts check_len 65 # CVE-2099-0001
target_rejects check_len 66 "Invalid argument"
target_rejects check_len abc "Invalid argument"
target_accepts parse_flags 0x7
target_accepts parse_flags 0x8 # CVE-2099-0002
target_accepts parse_flags 4096
for _ in 1 2 3 4 5; do
	target_accepts session_use 1 # CVE-2099-0003
done
target_rejects session_use 9 "Invalid argument"
target_rejects session_use 4 "Invalid argument"

# call_loop
expect_eq "$(cat $dbg/call_loop | wc -c)" 0 "call_loop is empty before a run"
target_accepts call_loop "check_len 1000000"
line=$(cat $dbg/call_loop)
echo "$line"
expect_match "$line" '^function=check_len calls=1000000 total_ns=[0-9]+ ns_per_call=[0-9]+\.[0-9][0-9]$' \
	"call_loop line format"
ns=$(echo "$line" | sed 's/.*ns_per_call=//')
expect_eq "$(echo "$ns" | awk '{print ($1 > 0)}')" 1 "ns_per_call $ns is positive"
target_accepts call_loop "parse_flags 100000"
line=$(cat $dbg/call_loop)
echo "$line"
expect_match "$line" '^function=parse_flags calls=100000 total_ns=[0-9]+ ns_per_call=[0-9]+\.[0-9][0-9]$' \
	"call_loop parse_flags line"
target_rejects call_loop "check_len 0" "Invalid argument"
target_rejects call_loop "check_len 100000001" "Invalid argument"
target_rejects call_loop "session_use 10" "Invalid argument"
target_rejects call_loop "check_len" "Invalid argument"

# Parking: two kthreads and a user task sleep in lpmon_target_wait_released.
expect_eq "$(cat $dbg/parked)" 0 "nothing parked at first"
target_rejects park "kthreads 0" "Invalid argument"
target_rejects park "kthreads 65" "Invalid argument"
target_rejects park "bogus" "Invalid argument"
target_accepts park "kthreads 2"
cat $dbg/park >park-user.out &
user_pid=$!
wait_for 20 "3 tasks parked" target_parked_is 3
kthreads=$(target_park_kthreads)
expect_eq "$(echo "$kthreads" | wc -w)" 2 "two park kthreads exist"
for pid in $kthreads; do
	target_expect_parked_in "$pid" "kthread $(cat "/proc/$pid/comm") ($pid)"
done
expect_eq "$(for pid in $kthreads; do cat "/proc/$pid/comm"; done | sort | tr '\n' ' ')" \
	"lpmon_park/0 lpmon_park/1 " "kthread names"
target_expect_parked_in $user_pid "user cat ($user_pid)"
# busybox ps shows them too
# shellcheck disable=SC2009
ps | grep -E '[l]pmon_park|[p]ark$'

# CVE-2099-0004: the wait is unkillable.
cat $dbg/park >/dev/null &
victim=$!
wait_for 20 "4 tasks parked" target_parked_is 4
kill -9 $victim
usleep 300000
[ -d /proc/$victim ] || fail "SIGKILL ended a task parked in lpmon_target_wait_released"
expect_eq "$(cat $dbg/parked)" 4 "SIGKILL does not unpark (unkillable wait)"

target_accepts park release
wait_for 20 "parked back to 0" target_parked_is 0
wait $user_pid
expect_eq "$?" 0 "user cat exit status"
expect_eq "$(cat park-user.out)" released "user cat output"
wait $victim
expect_eq "$?" 137 "the killed cat dies of SIGKILL once released"
wait_for 20 "park kthreads exited" test -z "$(target_park_kthreads)"

log "unloading $mod with nothing parked"
rmmod $mod || fail "rmmod $mod"
loaded && fail "$mod still loaded after rmmod"
ok "$mod unloaded"

# rmmod while a user task is parked: its open debugfs file pins the module, so
# rmmod is refused and the task stays parked until released.
klp_load $mod
cat $dbg/park >park-user2.out &
user_pid=$!
wait_for 20 "user task parked" target_parked_is 1
if out=$(rmmod $mod 2>&1); then fail "rmmod succeeded with a user task parked"; fi
echo "$out"
expect_match "$out" "Resource temporarily unavailable" "rmmod refused with EAGAIN while a user task is parked"
loaded || fail "$mod gone"
expect_eq "$(cat $dbg/parked)" 1 "the user task stays parked"
target_expect_parked_in $user_pid "user cat ($user_pid)"
target_accepts park release
wait $user_pid
expect_eq "$(cat park-user2.out)" released "user cat released after the refused rmmod"

# rmmod while kthreads are parked: unload releases them and waits for their exit.
target_accepts park "kthreads 3"
wait_for 20 "3 kthreads parked" target_parked_is 3
expect_eq "$(target_park_kthreads | wc -l)" 3 "three park kthreads"
log "unloading $mod with 3 kthreads parked"
rmmod $mod || fail "rmmod $mod with parked kthreads"
loaded && fail "$mod still loaded"
ok "$mod unloaded with kthreads parked"
expect_eq "$(target_park_kthreads | wc -l)" 0 "no park kthread left after rmmod"
dmesg_expect "$mod: released 3 parked kthread(s) to unload"

# Spawning and unloading at once: a kthread that enters the park point after
# unload's first release must still be released.
klp_load $mod
target_accepts park "kthreads 64"
rmmod $mod || fail "rmmod $mod right after spawning 64 kthreads"
expect_eq "$(target_park_kthreads | wc -l)" 0 "no park kthread left after the racing rmmod"

dmesg_clean
