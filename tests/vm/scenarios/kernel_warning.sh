# The detector's own test (vm.kernel_warning_detected, through expect_kernel_problem.sh): a
# patch whose replacement of cmdline_proc_show WARNs once called. Everything this scenario
# checks passes; only run-guest.sh's scan of the kernel log may, and must, fail it.
. /lib/lpmon/lib.sh
require_livepatch

klp_load lpmon_warns
wait_for 30 "lpmon_warns transition completes" klp_transition_done lpmon_warns
cat /proc/cmdline >cmdline.txt || fail "reading /proc/cmdline"
expect_match "$(cat cmdline.txt)" "warn-on-call" "the replacement answered"
dmesg_expect "WARNING:"
