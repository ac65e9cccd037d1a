# A build of release 2 with CVE-2099-0002 excluded: exactly that function stays unpatched.
. /lib/lpmon/lib.sh
require_livepatch

patch=lpmon_fixes_v2_no0002
klp_load lpmon_target
klp_load $patch
wait_for 30 "transition completes" klp_transition_done $patch

target_accepts parse_flags 0x8
target_rejects check_len 65 "Invalid argument"
for i in 1 2 3; do target_accepts session_use 0; done
target_rejects session_use 0 "quota|Disk quota"
expect_eq "$(cat /proc/cmdline)" "[redacted by livepatch: CVE-2099-1001]" "/proc/cmdline redacted"

funcs=$(cd "$LIVEPATCH_SYSFS/$patch" && ls -d */*,* | sort | tr '\n' ' ')
expect_eq "$funcs" "lpmon_target/lpmon_target_check_len,1 lpmon_target/lpmon_target_session_use,1 lpmon_target/lpmon_target_wait_released,1 vmlinux/cmdline_proc_show,1 " \
	"patched functions: all of release 2 but parse_flags"
params=/sys/module/$patch/parameters
expect_eq "$(cat $params/excluded_cves)" "CVE-2099-0002" "excluded cves"
expect_no_match "$(cat $params/cves)" "CVE-2099-0002" "CVE-2099-0002 not claimed as fixed"
expect_match "$(cat $params/fixes)" "target-check-len" "fixes list"

klp_disable $patch
wait_for 30 "unpatching completes" klp_gone $patch
rmmod $patch || fail "rmmod $patch"
dmesg_clean
