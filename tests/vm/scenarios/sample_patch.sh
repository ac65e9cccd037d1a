# The whole life of one livepatch in a real kernel: load, transition, patched
# behaviour, disable, unpatching transition, original behaviour, unload.
. /lib/lpmon/lib.sh
require_livepatch

patch=lpmon_sample
marker="lpmon_sample: this kernel is live patched"

original_cmdline=$(cat /proc/cmdline)
expect_no_match "$original_cmdline" "$marker" "/proc/cmdline is the kernel's before patching"

# The BPF tracer follows the patch's whole life: 2 transitions, 4 events.
lpmon trace --json --count 4 >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err

ip link set lo up
lpmon-exporter --web.listen-address 127.0.0.1:9812 2>exporter.err &
exporter_pid=$!

log "loading $patch"
klp_load $patch
wait_for 30 "patching transition of $patch completes" klp_transition_done $patch
expect_eq "$(klp_attr $patch enabled)" 1 "$patch enabled"
expect_eq "$(cat /proc/cmdline)" "$marker" "/proc/cmdline comes from the replacement"
[ -d "$LIVEPATCH_SYSFS/$patch/vmlinux/cmdline_proc_show,1" ] ||
	fail "sysfs lacks vmlinux/cmdline_proc_show,1"
ok "sysfs lists vmlinux/cmdline_proc_show,1"
taint=$(cat /proc/sys/kernel/tainted)
expect_eq "$(((taint >> 15) & 1))" 1 "kernel tainted with TAINT_LIVEPATCH (K)"

lpmon status >status-patched.txt
expect_eq "$?" 0 "lpmon status exit code with the patch enabled"
cat status-patched.txt

scrape() { wget -qO metrics.txt http://127.0.0.1:9812/metrics; }
wait_for 20 "lpmon-exporter answers a scrape" scrape
expect_match "$(cat metrics.txt)" "^lpmon_patch_enabled\{patch=\"$patch\"\} 1$" \
	"exporter: lpmon_patch_enabled{patch=\"$patch\"} 1"
expect_match "$(cat metrics.txt)" '^lpmon_livepatch_supported 1$' "exporter: livepatch supported"
expect_match "$(cat metrics.txt)" '^lpmon_kernel_tainted\{flag="livepatch",letter="K"\} 1$' \
	"exporter: taint K"
kill $exporter_pid

log "disabling $patch"
klp_disable $patch
# A disabled patch is freed once unpatching completes (since 5.1): its sysfs
# directory going away is the end of the transition.
wait_for 30 "unpatching transition of $patch completes" klp_gone $patch
expect_eq "$(cat /proc/cmdline)" "$original_cmdline" "/proc/cmdline is the kernel's again"

rmmod $patch || fail "rmmod $patch"
[ ! -d /sys/module/$patch ] || fail "module $patch still loaded after rmmod"
ok "module $patch unloaded"

lpmon status >status-unpatched.txt
expect_eq "$?" 3 "lpmon status exit code with no patch"

wait $trace_pid
expect_eq "$?" 0 "lpmon trace ended after 4 events"
cat trace.jsonl
expect_eq "$(wc -l <trace.jsonl)" 4 "trace lines"
json_field() { sed -n "s/.*\"$1\":\"\\([a-z]*\\)\".*/\\1/p" trace.jsonl | tr '\n' ' '; }
events="$(json_field event)/ $(json_field direction)"
expect_eq "$events" "start end start end / patching patching unpatching unpatching " "trace events"
expect_eq "$(grep -c "\"patch\":\"$patch\"" trace.jsonl)" 4 "every event names $patch"
expect_eq "$(grep -c '"result":"complete"' trace.jsonl)" 2 "both transitions complete"
# A transition retries once a second under TCG with 2 vCPUs: sane durations are 0-30 s.
for d in $(sed -n 's/.*"duration_seconds":\([0-9.e-]*\).*/\1/p' trace.jsonl); do
	expect_eq "$(echo "$d" | awk '{print ($1 > 0 && $1 < 30)}')" 1 "transition duration $d s is plausible"
done

dmesg_expect "livepatch: enabling patch '$patch'" \
	"livepatch: '$patch': starting patching transition" \
	"livepatch: '$patch': patching complete" \
	"livepatch: '$patch': starting unpatching transition" \
	"livepatch: '$patch': unpatching complete"
dmesg_clean
