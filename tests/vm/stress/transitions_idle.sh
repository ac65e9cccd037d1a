# Reproducer (not a test), see docs/kernels.md: many livepatch transitions of lpmon_sample in one boot, nothing busy.
. /lib/lpmon/lib.sh
require_livepatch
n=${CYCLES:-15}
i=0
while [ $i -lt $n ]; do
	klp_load lpmon_sample >/dev/null
	wait_for 120 "patching $i" klp_transition_done lpmon_sample >/dev/null
	echo "TRANSITION_DONE $((2 * i + 1))"
	klp_disable lpmon_sample >/dev/null
	wait_for 120 "unpatching $i" klp_gone lpmon_sample >/dev/null
	rmmod lpmon_sample || fail "rmmod"
	echo "TRANSITION_DONE $((2 * i + 2))"
	i=$((i + 1))
done
dmesg_clean
