# A transition the kernel cancels because it cannot register its ftrace handler
# (kernel.ftrace_enabled=0): with ftrace off no fentry or kprobe fires, yet lpmon trace and
# lpmon-exporter must count it, from the kernel's log, as they count one cancelled by a
# pre-patch callback (which the probes see: it must not be counted twice).
. /lib/lpmon/lib.sh
require_livepatch

lpmon trace --json >trace.jsonl 2>trace.err &
trace_pid=$!
lpmon-exporter --web.listen-address 127.0.0.1:9812 --no-calls 2>exporter.log &
exporter_pid=$!
wait_for 30 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err
wait_for 30 "exporter attached its tracer" grep -q "transition tracer attached" exporter.log
wait_for 20 "lpmon-exporter is serving" grep -q "serving /metrics" exporter.log

# cancelled PATCH DIRECTION: the exporter's lpmon_transitions_total of PATCH's cancelled ones
cancelled() {
	wget -qO metrics.txt http://127.0.0.1:9812/metrics || return 1
	sed -n "s/^lpmon_transitions_total{patch=\"$1\",direction=\"$2\",result=\"cancelled\"} \([0-9]*\)$/\1/p" metrics.txt
}
# cancelled_is PATCH DIRECTION N: the exporter counts N (its tracer reads the kernel log on its
# own 200 ms poll, after lpmon trace's 100 ms one: wait for it, exactly N)
cancelled_is() { [ "$(cancelled "$1" "$2")" = "$3" ]; }
# attempts LOG PATCH: how many enable attempts the kernel logged for PATCH
attempts() { dmesg | grep -c "enabling patch '$1'"; }
ends_of() { grep "\"patch\":\"$1\"" trace.jsonl | grep '"event":"end"' | json_str result | sort | uniq -c | tr -s ' ' | sed 's/^ //'; }

log "ftrace off: the kernel cannot register lpmon_fixes_v1's handler"
echo 0 >/proc/sys/kernel/ftrace_enabled || fail "kernel.ftrace_enabled=0"
if insmod "$LPMON_KMOD_DIR/lpmon_fixes_v1.ko" 2>insmod.err; then
	echo 1 >/proc/sys/kernel/ftrace_enabled
	fail "insmod lpmon_fixes_v1 succeeded with ftrace off"
fi
echo 1 >/proc/sys/kernel/ftrace_enabled || fail "kernel.ftrace_enabled=1"
dmesg_expect "failed to register ftrace handler" "failed to enable patch 'lpmon_fixes_v1'"
n=$(attempts lpmon_fixes_v1)
ok "the kernel logged $n attempt(s) to enable lpmon_fixes_v1"
wait_for 20 "lpmon trace: $n cancelled END(s) of lpmon_fixes_v1" \
	sh -c "[ \"\$(grep '\"patch\":\"lpmon_fixes_v1\"' trace.jsonl | grep -c '\"result\":\"cancelled\"')\" = $n ]"
expect_eq "$(ends_of lpmon_fixes_v1)" "$n cancelled" "lpmon trace: every END of lpmon_fixes_v1"
wait_for 20 "exporter: lpmon_transitions_total{patch=lpmon_fixes_v1,result=cancelled} is $n" \
	cancelled_is lpmon_fixes_v1 unpatching "$n"

log "ftrace on: a pre-patch callback refuses (the probes see this one)"
if insmod /lpmon/kmod/lpmon_refuse.ko 2>insmod.err; then fail "insmod lpmon_refuse succeeded"; fi
n=$(attempts lpmon_refuse)
wait_for 20 "lpmon trace: $n cancelled END(s) of lpmon_refuse" \
	sh -c "[ \"\$(grep '\"patch\":\"lpmon_refuse\"' trace.jsonl | grep -c '\"result\":\"cancelled\"')\" = $n ]"
# A further patch, so that a duplicate would have had time to arrive before the counts.
klp_load lpmon_fixes_v1
wait_for 30 "v1 transition completes" klp_transition_done lpmon_fixes_v1
wait_for 20 "lpmon trace: v1's END complete" sh -c "grep '\"patch\":\"lpmon_fixes_v1\"' trace.jsonl | grep -q '\"result\":\"complete\"'"
expect_eq "$(ends_of lpmon_refuse)" "$n cancelled" "lpmon trace: lpmon_refuse cancelled once per attempt"
wait_for 20 "exporter: lpmon_refuse counted once per attempt ($n)" \
	cancelled_is lpmon_refuse unpatching "$n"
expect_eq "$(cancelled lpmon_fixes_v1 unpatching)" "$(attempts lpmon_fixes_v1 | awk '{print $1 - 1}')" \
	"exporter: lpmon_fixes_v1's cancellations unchanged"

klp_disable lpmon_fixes_v1
wait_for 30 "v1 unpatched and freed" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod lpmon_fixes_v1"
kill -INT $trace_pid
wait $trace_pid
kill $exporter_pid
wait $exporter_pid
dmesg_clean
