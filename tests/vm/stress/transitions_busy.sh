# Reproducer (not a test), see docs/kernels.md: transitions while a task loops in the kernel (lpmon_target's call_loop, with
# cond_resched every 4096 calls) on the other vCPU: klp re-patches the cond_resched sites.
. /lib/lpmon/lib.sh
require_livepatch
klp_load lpmon_target >/dev/null
n=${CYCLES:-5}
busy() { while :; do echo "check_len 100000000" >"$LPMON_TARGET_DEBUGFS/call_loop"; done; }
busy &
busy_pid=$!
sleep 1
i=0
while [ $i -lt $n ]; do
	t0=$(cut -d' ' -f1 /proc/uptime)
	klp_load lpmon_sample >/dev/null
	wait_for 300 "patching $i" klp_transition_done lpmon_sample >/dev/null
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "TRANSITION_DONE $((2 * i + 1)) $t0 $t1"
	klp_disable lpmon_sample >/dev/null
	wait_for 300 "unpatching $i" klp_gone lpmon_sample >/dev/null
	rmmod lpmon_sample || fail "rmmod"
	t2=$(cut -d' ' -f1 /proc/uptime)
	echo "TRANSITION_DONE $((2 * i + 2)) $t1 $t2"
	i=$((i + 1))
done
kill $busy_pid
dmesg_clean
