# The kernel's own livepatch selftests (tools/testing/selftests/livepatch) and samples
# (samples/livepatch) from Debian's linux-source of the guest kernel, run while lpmon-exporter
# and `lpmon trace --json` observe: every selftest passes, and the transitions lpmon counted
# (trace END events, lpmon_transitions_total), by patch, direction and result, are the ones the
# kernel logged. tests/vm/kselftest/livepatch_selftests.sh puts the files in.
#
# What was adapted to the busybox guest: see tests/vm/kselftest/guest.sh.
. /lib/lpmon/lib.sh
require_livepatch

. /lpmon/kselftest/guest.sh
kselftest_setup
extra=$KSELFTEST_EXTRA

# Every transition's first and last lines, reversals and cancellations reach the kernel log
# (pr_debug); the per-task lines of klp_try_switch_task would only crowd the 128 KiB buffer.
printf 'file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n' \
	>/sys/kernel/debug/dynamic_debug/control || fail "cannot enable livepatch's pr_debug"

# --- the observers
lpmon trace --json >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 60 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err
lpmon-exporter --web.listen-address 127.0.0.1:9812 2>exporter.err &
exporter_pid=$!
scrape() { wget -qO "$1" http://127.0.0.1:9812/metrics; }
wait_for 60 "lpmon-exporter serves its transition tracer" sh -c \
	"wget -qO - http://127.0.0.1:9812/metrics | grep -q '^lpmon_bpf_program_up{program=\"transition\"} 1'"

marker="lpmon: livepatch selftests begin $(cut -d' ' -f1 /proc/uptime)"
echo "$marker" >/dev/kmsg

# --- the selftests, each script as it is
kselftest_run_all observed
failed=$KSELFTEST_FAILED
[ -z "$failed" ] || fail "selftests failed:$failed (their logs are in the artifacts)"
ok "all livepatch selftests passed"

# --- the samples
sample_load() { # FILE [PARAMS...]
	local file=$1
	shift
	insmod "$extra/$file.ko" "$@" || fail "insmod $file"
	ok "insmod $file $*"
}
sample_unload() { # MODULE
	wait_for 60 "$1 unused" sh -c "[ \"\$(cat /sys/module/$1/refcnt)\" = 0 ]"
	rmmod "$1" || fail "rmmod $1"
}
patched_by_sample() { [ "$(cat /proc/cmdline)" = "this has been live patched" ]; }
# disable_and_remove PATCH: unpatch, wait until the patch is freed, unload it.
disable_and_remove() {
	klp_disable "$1"
	wait_for 60 "$1 unpatched and freed" klp_gone "$1"
	sample_unload "$1"
}

cmdline=$(cat /proc/cmdline)
log "sample: livepatch-sample"
sample_load livepatch-sample
wait_for 60 "livepatch_sample: patching completes" klp_transition_done livepatch_sample
patched_by_sample || fail "/proc/cmdline is not the sample's: $(cat /proc/cmdline)"
ok "/proc/cmdline comes from livepatch-sample"
disable_and_remove livepatch_sample
expect_eq "$(cat /proc/cmdline)" "$cmdline" "/proc/cmdline is the kernel's again"

log "sample: shadow variables (livepatch-shadow-mod, -fix1, -fix2)"
sample_load livepatch-shadow-mod
sample_load livepatch-shadow-fix1
wait_for 60 "livepatch_shadow_fix1: patching completes" klp_transition_done livepatch_shadow_fix1
sample_load livepatch-shadow-fix2
wait_for 60 "livepatch_shadow_fix2: patching completes" klp_transition_done livepatch_shadow_fix2
# shadow-mod allocates dummies and frees them once expired: fix2's free reports its counter.
wait_for 60 "fix2 freed a dummy it counted" sh -c "dmesg | grep -q 'livepatch_shadow_fix2: livepatch_fix2_dummy_free: .*check counter'"
disable_and_remove livepatch_shadow_fix2
disable_and_remove livepatch_shadow_fix1
sample_unload livepatch_shadow_mod

# The callbacks demo patches busymod_work_func: while busymod's worker sleeps in it, the
# patching transition waits (several klp rounds); disabling the patch then reverses it.
busymod_sleeping() { dmesg | grep -q "livepatch_callbacks_busymod: busymod_work_func, sleeping $1 seconds"; }
log "sample: callbacks demo, reversed while busymod sleeps in the patched function"
sample_load livepatch-callbacks-busymod sleep_secs=8
wait_for 30 "busymod's worker sleeps" busymod_sleeping 8
sample_load livepatch-callbacks-demo
wait_for 10 "the patching transition is under way" sh -c \
	"[ \"\$(cat $LIVEPATCH_SYSFS/livepatch_callbacks_demo/transition 2>/dev/null)\" = 1 ]"
usleep 1500000 # at least one klp retry finds the worker still asleep
klp_disable livepatch_callbacks_demo
wait_for 60 "the reversed demo is freed" klp_gone livepatch_callbacks_demo
sample_unload livepatch_callbacks_demo
sample_unload livepatch_callbacks_busymod

log "sample: callbacks demo, completes once busymod wakes, then a module it patches loads"
sample_load livepatch-callbacks-busymod sleep_secs=2
wait_for 30 "busymod's worker sleeps" busymod_sleeping 2
sample_load livepatch-callbacks-demo
wait_for 60 "livepatch_callbacks_demo: patching completes" klp_transition_done livepatch_callbacks_demo
sample_load livepatch-callbacks-mod
sample_unload livepatch_callbacks_mod
disable_and_remove livepatch_callbacks_demo
sample_unload livepatch_callbacks_busymod

# --- what the kernel logged, against what lpmon counted
dmesg >kernel.log
grep -qF "$marker" kernel.log || fail "the kernel log buffer overran: the begin marker is gone"
klp_durations "[^']*" <kernel.log >durations.txt # for BENCHMARKS.md (the observer effect)
# One line per transition that ended: "PATCH DIRECTION RESULT", DIRECTION the final one.
# klp_mutex serialises transitions, so the lines of one never interleave with another's.
sed 's/^\[[ 0-9.]*\] //' kernel.log | awk -v marker="$marker" '$0 == marker { on = 1 } on' |
	sed -E -n \
		-e "s/^livepatch: '([^']*)': initializing (patching|unpatching) transition$/init \1 \2/p" \
		-e "s/^livepatch: '([^']*)': starting (patching|unpatching) transition$/start \1 \2/p" \
		-e "s/^livepatch: '([^']*)': reversing transition from .*/reverse \1/p" \
		-e "s/^livepatch: '([^']*)': canceling patching transition.*/cancel \1/p" \
		-e "s/^livepatch: forcing remaining tasks to the patched state$/force/p" \
		-e "s/^livepatch: '([^']*)': (patching|unpatching) complete$/end \1 \2/p" >kernel-events.txt
awk '$1 == "init" { res = "complete" }
     $1 == "reverse" { res = "reversed" }
     $1 == "cancel" { res = "cancelled" }
     $1 == "force" { res = "forced" }
     $1 == "end" { print $2, $3, res; res = "complete" }' kernel-events.txt >kernel-ends.txt
kernel_inits=$(grep -c '^init ' kernel-events.txt)
kernel_starts=$(grep -c '^start ' kernel-events.txt)
kernel_ends=$(wc -l <kernel-ends.txt)
[ "$kernel_ends" -gt 0 ] || fail "the kernel logged no transition"

# lpmon trace reports from a ring buffer: let it catch up, then stop it.
trace_ends() { grep -c '"event":"end"' trace.jsonl; }
i=0
while [ "$(trace_ends)" -lt "$kernel_ends" ] && [ $i -lt 100 ]; do
	usleep 100000
	i=$((i + 1))
done
usleep 500000 # anything beyond the kernel's count would show too
kill -INT $trace_pid
wait $trace_pid
expect_eq "$?" 0 "lpmon trace ends on SIGINT"
scrape metrics.txt || fail "scraping lpmon-exporter"
kill $exporter_pid

# json_field KEY: KEY's string value on a line of lpmon's JSON ("?" when absent)
field() { awk -v k="$1" '{ if (match($0, "\"" k "\":\"[^\"]*\"")) print substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 5); else print "?" }'; }
grep '"event":"end"' trace.jsonl >trace-ends.jsonl
paste_fields() { # FILE: "patch direction result" per line
	awk -v p="$(field patch <"$1" | tr '\n' ' ')" -v d="$(field direction <"$1" | tr '\n' ' ')" \
		-v r="$(field result <"$1" | tr '\n' ' ')" 'BEGIN {
			n = split(p, P, " "); split(d, D, " "); split(r, R, " ")
			for (i = 1; i <= n; i++) print P[i], D[i], R[i] }'
}
paste_fields trace-ends.jsonl >trace-ends.txt
# "COUNT PATCH DIRECTION RESULT", sorted: the same shape from all three sources.
tally() { sort | uniq -c | awk '{ print $1, $2, $3, $4 }' | sort -k2; }
tally <kernel-ends.txt >kernel-counts.txt
tally <trace-ends.txt >trace-counts.txt
grep '^lpmon_transitions_total{' metrics.txt | awk '{
	line = $0; out = ""
	n = split("patch direction result", keys, " ")
	for (i = 1; i <= n; i++) {
		v = "?"
		if (match(line, keys[i] "=\"[^\"]*\"")) v = substr(line, RSTART + length(keys[i]) + 2, RLENGTH - length(keys[i]) - 3)
		out = out " " v
	}
	print $NF out }' | sort -k2 >exporter-counts.txt

# The counts the issue names, per source, into the artifacts. The kernel logs "initializing"
# once per transition (lpmon's START), "starting" once more on each reversal and not at all
# for a cancelled one (klp_cancel_transition comes before klp_start_transition).
sum_result() { awk -v r="$2" '$4 == r || r == "" { s += $1 } END { print s + 0 }' "$1"; }
trace_starts=$(grep -c '"event":"start"' trace.jsonl)
trace_reverses=$(grep -c '"event":"reverse"' trace.jsonl)
trace_started=$((trace_starts - $(sum_result trace-counts.txt cancelled) + trace_reverses))
row() { # SOURCE INITIALIZED STARTED COUNTS-FILE
	echo "$1 $2 $3 $(sum_result "$4" complete) $(sum_result "$4" reversed)" \
		"$(sum_result "$4" cancelled) $(sum_result "$4" forced) $(sum_result "$4")"
}
{
	echo "source initialized started complete reversed cancelled forced ended"
	row kernel "$kernel_inits" "$kernel_starts" kernel-counts.txt
	row trace "$trace_starts" "$trace_started" trace-counts.txt
	row exporter - - exporter-counts.txt
} >counts.txt
cat counts.txt

for n in reversed cancelled; do
	[ "$(sum_result kernel-counts.txt $n)" -gt 0 ] || fail "the kernel logged no $n transition: the run does not cover it"
done
compare() { # FILE WHAT
	if ! diff -u kernel-counts.txt "$1" >"$1.diff"; then
		cat "$1.diff"
		fail "$2 differ from the kernel log's (-kernel +lpmon, 'COUNT PATCH DIRECTION RESULT')"
	fi
	ok "$2 equal the kernel log's, for each patch, direction and result ($kernel_ends transitions)"
}
compare trace-counts.txt "lpmon trace's END events"
compare exporter-counts.txt "lpmon_transitions_total"
expect_eq "$trace_starts" "$kernel_inits" "lpmon trace: STARTs = transitions the kernel initialised"
expect_eq "$trace_started" "$kernel_starts" \
	"lpmon trace: STARTs - cancelled + reversals = the kernel's 'starting ... transition' lines"
expect_no_match "$(grep '^lpmon_transition_in_progress_seconds{' metrics.txt)" . \
	"exporter: no transition left in progress"
dmesg_clean
