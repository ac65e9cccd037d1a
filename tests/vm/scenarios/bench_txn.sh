# Benchmark, numbers only: what the lock and the journal add to lpmon apply (and the revert
# after it). The same apply and revert of lpmon_fixes_v1, alternately with and without them
# (LPMON_BENCH_NO_TRANSACTION=1), in the same boot. The guest's root is a tmpfs, so fsync is
# nearly free here: the figure is the work of the lock and the journal, not a disk's latency.
# Results in bench-txn.txt (see BENCHMARKS.md).
. /lib/lpmon/lib.sh
require_livepatch

results=bench-txn.txt
rounds=${LPMON_BENCH_ROUNDS:-6}
patch=lpmon_fixes_v1
klp_load lpmon_target
uptime_ns() { awk '{printf "%.0f\n", $1 * 1e9}' /proc/uptime; }

# one_run: ms of one apply + revert of the patch
one_run() {
	local start
	start=$(uptime_ns)
	lpmon apply $LPMON_KMOD_DIR/$patch.ko --audit-log audit.log >/dev/null 2>&1 || fail "apply"
	lpmon revert $patch --audit-log audit.log >/dev/null 2>&1 || fail "revert"
	awk -v s="$start" -v e="$(uptime_ns)" 'BEGIN {printf "%.1f\n", (e - s) / 1e6}'
}
i=1
while [ $i -le "$rounds" ]; do
	echo "with $(one_run)" >>$results
	echo "without $(LPMON_BENCH_NO_TRANSACTION=1 one_run)" >>$results
	i=$((i + 1))
done
[ ! -e /var/lib/lpmon/journal ] || fail "a journal was left"
cat $results
awk '$1 == "with" {w += $2; nw++} $1 == "without" {o += $2; no++}
	END {printf "mean-with-ms %.1f\nmean-without-ms %.1f\nratio %.3f\n", w / nw, o / no, (w / nw) / (o / no)}' \
	$results | tee -a $results
rmmod lpmon_target || fail "rmmod lpmon_target"
