# A task whose name is not UTF-8 and holds terminal escape sequences (any user can name its
# own tasks so) blocks a transition: lpmon status and lpmon trace must still print valid JSON,
# and their text must carry no escape byte to the terminal.
. /lib/lpmon/lib.sh
require_livepatch

klp_load lpmon_target
# The shell names itself (/proc/self/comm, written by the shell's builtin printf: a task may
# only rename its own thread group), then blocks in the park file with its builtin read.
sh -c 'printf "\377\033[2J\033]0;x\007e" >/proc/self/comm && read -r line <'"$LPMON_TARGET_DEBUGFS/park" &
hostile_pid=$!
wait_for 20 "the renamed task is parked" target_parked_is 1
od -An -c "/proc/$hostile_pid/comm" >comm.txt
cat comm.txt
expect_match "$(cat comm.txt)" '377 +033' "the task's name holds byte 0xff and ESC"

klp_load lpmon_fixes_v2
expect_eq "$(klp_attr lpmon_fixes_v2 transition)" 1 "the transition waits for the parked task"

has_esc() { od -An -c "$1" | grep -q '033'; }
lpmon status --json >status.json
expect_eq "$?" 4 "lpmon status --json: in transition, not an error"
expect_match "$(cat status.json)" '"comm": "\\\\xff\\u001b\[2J' "lpmon status --json: the name, escaped"
lpmon status >status.txt
expect_eq "$?" 4 "lpmon status: in transition"
grep "Blocking: *$hostile_pid " status.txt
expect_match "$(grep "Blocking: *$hostile_pid " status.txt)" "$hostile_pid \\\\xff\\\\x1b\\[2J" \
	"lpmon status: the name, escaped"
if has_esc status.txt; then fail "lpmon status printed an ESC byte"; fi
ok "lpmon status: no ESC byte"

lpmon trace --json --tasks >trace.jsonl 2>trace.err &
trace_pid=$!
wait_for 60 "lpmon trace --json --tasks reports the parked task" \
	grep -q "\"pid\":$hostile_pid" trace.jsonl
lpmon trace --tasks >trace.txt 2>&1 &
text_pid=$!
wait_for 60 "lpmon trace --tasks reports the parked task" grep -q "pid $hostile_pid" trace.txt
kill -INT $trace_pid $text_pid
wait $trace_pid
expect_eq "$?" 0 "lpmon trace --json exits 0"
wait $text_pid
expect_match "$(grep "\"pid\":$hostile_pid" trace.jsonl | head -n 1)" '"comm":"\\\\xff\\u001b\[2J' \
	"lpmon trace --json: the name, escaped"
grep "pid $hostile_pid" trace.txt | head -n 2
if has_esc trace.txt; then fail "lpmon trace printed an ESC byte"; fi
ok "lpmon trace: no ESC byte"

echo release >"$LPMON_TARGET_DEBUGFS/park"
wait_for 30 "transition completes after release" klp_transition_done lpmon_fixes_v2
wait $hostile_pid
klp_disable lpmon_fixes_v2
wait_for 30 "unpatching completes" klp_gone lpmon_fixes_v2
rmmod lpmon_fixes_v2 || fail "rmmod lpmon_fixes_v2"
rmmod lpmon_target || fail "rmmod lpmon_target"
dmesg_clean
