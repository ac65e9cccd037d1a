# What differs between kernel lines (docs/kernels.md), checked on whichever one booted:
# the sysfs files newer kernels add ('replace' 6.11+, 'stack_order' 6.13+) as lpmon status
# and the exporter show them, and tasks that switch themselves at cond_resched (6.4+) as
# lpmon trace counts them.
. /lib/lpmon/lib.sh
require_livepatch

release=$(uname -r)
major=${release%%.*}
minor=${release#*.}
minor=${minor%%[!0-9]*}
at_least() { [ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -ge "$2" ]; }; }
log "kernel $release (line $major.$minor)"

klp_load lpmon_target
lpmon trace --json >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 30 "lpmon trace attached" grep -q "tracing livepatch transitions" trace.err

# --- sysfs files by kernel version, as status and the exporter show them
klp_load lpmon_fixes_v1
wait_for 60 "v1 transition completes" klp_transition_done lpmon_fixes_v1
dir=$LIVEPATCH_SYSFS/lpmon_fixes_v1
lpmon status --json >status.json || fail "lpmon status --json"
ip link set lo up
lpmon-exporter --web.listen-address 127.0.0.1:9812 2>exporter.err &
exporter_pid=$!
scrape() { wget -qO metrics.txt http://127.0.0.1:9812/metrics; }
wait_for 20 "lpmon-exporter answers a scrape" scrape
kill $exporter_pid

# check_file FILE SINCE_MAJOR SINCE_MINOR JSON_KEY METRIC: present exactly on kernels since
# that version; status and the exporter give its value there and nothing elsewhere.
check_file() {
	if at_least "$2" "$3"; then
		[ -f "$dir/$1" ] || fail "$release has no $1 in sysfs (expected since $2.$3)"
		value=$(cat "$dir/$1")
		ok "sysfs has $1 ($value)"
		json_value=$value
		[ "$4" = replace ] && { [ "$value" = 1 ] && json_value=true || json_value=false; }
		expect_match "$(tr -d ' \n' <status.json)" "\"$4\":$json_value[,}]" \
			"lpmon status --json: $4 is $json_value"
		expect_match "$(cat metrics.txt)" "^$5\{patch=\"lpmon_fixes_v1\"\} $value$" \
			"exporter: $5 $value"
	else
		[ ! -e "$dir/$1" ] || fail "$release has $1 in sysfs (expected only since $2.$3)"
		ok "sysfs has no $1"
		expect_match "$(tr -d ' \n' <status.json)" "\"$4\":null" "lpmon status --json: $4 is null"
		expect_no_match "$(cat metrics.txt)" "^$5\{" "exporter: no $5 sample"
	fi
}
check_file replace 6 11 replace lpmon_patch_replace
check_file stack_order 6 13 stack_order lpmon_patch_stack_order
# lpmon_fixes_v1 is built with replace = true: 6.12 says so in sysfs.
if at_least 6 11; then expect_eq "$(cat "$dir/replace")" 1 "sysfs: lpmon_fixes_v1 replaces"; fi
klp_disable lpmon_fixes_v1
wait_for 60 "v1 unpatched and freed" klp_gone lpmon_fixes_v1
rmmod lpmon_fixes_v1 || fail "rmmod lpmon_fixes_v1"

# --- tasks that switch themselves at cond_resched (6.4+). lpmon trace counts them on 6.4+
# kernels and must count none where klp has no such path. (A busy in-kernel loop on the
# other vCPU would make 6.12 switch it there for sure, but QEMU 7.2's TCG makes the
# guest crash on the cond_resched sites klp re-patches: see docs/kernels.md.)
if grep -q ' klp_cond_resched$' /proc/kallsyms; then at_cond_resched=1; else at_cond_resched=0; fi
if at_least 6 4; then
	expect_eq $at_cond_resched 1 "kernel has klp_cond_resched (6.4+)"
else
	expect_eq $at_cond_resched 0 "kernel has no klp_cond_resched"
fi
klp_load lpmon_sample
wait_for 90 "lpmon_sample's transition completes" klp_transition_done lpmon_sample
klp_disable lpmon_sample
wait_for 60 "lpmon_sample unpatched and freed" klp_gone lpmon_sample
wait_for 10 "the trace has 4 transition ends" lines_at_least trace.jsonl '"event":"end"' 4
counted=$(grep '"event":"end"' trace.jsonl | json_num switched_at_cond_resched | awk '{ s += $1 } END { print s + 0 }')
log "tasks switched at cond_resched over 4 transitions: $counted"
[ $at_cond_resched = 1 ] || expect_eq "$counted" 0 "no task counted as switched at cond_resched"
expect_eq "$(grep -c '"switched_at_cond_resched"' trace.jsonl)" "$(grep -c '"event":"end"' trace.jsonl)" \
	"every end event says how many tasks switched at cond_resched"
kill $trace_pid
dmesg_clean
