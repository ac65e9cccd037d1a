# The patch store across real reboots: one scenario, run at each boot of the same guest with a
# persistent virtio disk mounted at /var/lib/lpmon (tests/vm/store/reboots.sh boots it; the
# phase comes from lpmon_test.phase= on the kernel command line).
#   install   lpmon install v1, then v2 (replaces v1); uninstall v2 restores v1; v2 again
#   reboot    lpmon boot, as a boot's first step, makes v2 active again; its CVEs are listed
#   disabled  lpmon.disable=1 on the command line: lpmon boot loads nothing
#   crash     lpmon boot's load of v2 stalls (tasks parked), the guest resets mid-load
#   skipped   lpmon boot does not try v2 again, status/exporter/audit log say so;
#             lpmon install retries it
. /lib/lpmon/lib.sh
# Read before any patch: v1/v2 redact /proc/cmdline (CVE-2099-1001).
cmdline=$(cat /proc/cmdline)
phase=$(printf '%s\n' "$cmdline" | sed -n 's/.*lpmon_test\.phase=\([a-z]*\).*/\1/p')
require_livepatch

release=$(cat /etc/lpmon-release)
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk \
	crc16 mbcache jbd2 crc32c_generic ext4; do
	insmod "/lib/modules/$release/$m.ko" || fail "insmod $m"
done
wait_for 30 "the store disk appears" test -b /dev/vda
mkdir -p /var/lib/lpmon /var/log/lpmon /etc/lpmon
mount -t ext4 /dev/vda /var/lib/lpmon || fail "mount the store disk"
klp_load lpmon_target
v1=$LPMON_KMOD_DIR/lpmon_fixes_v1.ko v2=$LPMON_KMOD_DIR/lpmon_fixes_v2.ko
enabled() { klp_attr "$1" enabled; }
current() { lpmon list --json | json_str current | head -n 1; }
log "phase $phase"

case $phase in
install)
	lpmon install "$v1" >install-v1.txt 2>&1 || fail "install v1: $(cat install-v1.txt)"
	expect_eq "$(enabled lpmon_fixes_v1)" 1 "v1 enabled by install"
	lpmon install "$v2" --json >install-v2.json 2>install-v2.err || fail "install v2: $(cat install-v2.err)"
	expect_eq "$(enabled lpmon_fixes_v2)" 1 "v2 enabled by install"
	wait_for 30 "v1 freed by the atomic replace" test ! -d "$LIVEPATCH_SYSFS/lpmon_fixes_v1"
	id2=$(json_str id <install-v2.json | head -n 1)
	expect_match "$id2" '^lpmon_fixes_v2-[0-9a-f]{12}$' "v2's release id"
	expect_eq "$(current)" "$id2" "v2 is the installed patch level"
	expect_match "$(cat /run/lpmon/cves.json)" 'CVE-2099-0002' "cves.json lists v2's CVEs"
	expect_match "$(tr -d ' \n' </run/lpmon/cves.json)" '"active":true' "cves.json: active"
	lpmon list >list.txt
	expect_match "$(cat list.txt)" "$id2  current  enabled" "lpmon list: v2 current, enabled"
	expect_match "$(cat list.txt)" 'lpmon_fixes_v1-[0-9a-f]+  previous  not loaded' "lpmon list: v1 previous"
	# Uninstalling the current release goes back to the previous one, from the store.
	lpmon uninstall lpmon_fixes_v2 >uninstall.txt 2>&1 || fail "uninstall v2: $(cat uninstall.txt)"
	expect_eq "$(enabled lpmon_fixes_v1)" 1 "v1 enabled again after uninstalling v2"
	expect_eq "$(klp_attr lpmon_fixes_v2 enabled)" "" "v2 gone"
	lpmon install "$v2" >install-v2b.txt 2>&1 || fail "install v2 again: $(cat install-v2b.txt)"
	expect_eq "$(enabled lpmon_fixes_v2)" 1 "v2 enabled again"
	;;
reboot)
	step_start=$(cut -d' ' -f1 /proc/uptime)
	lpmon boot >boot.txt 2>&1 || fail "lpmon boot: $(cat boot.txt)"
	active=$(cut -d' ' -f1 /proc/uptime)
	# The "marker service": the first step after lpmon boot finds the patch level active.
	expect_eq "$(enabled lpmon_fixes_v2)" 1 "v2 active after the reboot, before the marker step"
	expect_eq "$(klp_attr lpmon_fixes_v2 transition)" 0 "v2's transition done"
	expect_match "$(cat boot.txt)" 'lpmon_fixes_v2-[0-9a-f]+ loaded and enabled' "lpmon boot says so"
	expect_match "$(tr -d ' \n' </run/lpmon/cves.json)" '"active":true' "cves.json: active"
	expect_match "$(cat /run/lpmon/cves.json)" 'CVE-2099-0002' "cves.json lists v2's CVEs"
	lpmon status >status.txt || true
	expect_match "$(cat status.txt)" 'Installed: +lpmon_fixes_v2-[0-9a-f]+ version 2, active' "lpmon status: installed, active"
	expect_match "$(cat status.txt)" 'Installed fixes: .*CVE-2099-0002' "lpmon status: its CVEs"
	echo "boot_step_start_s=$step_start patch_level_active_s=$active" | tee timing.txt
	;;
disabled)
	expect_match "$cmdline" 'lpmon\.disable=1' "the kill switch is on the command line"
	lpmon boot >boot.txt 2>&1 || fail "lpmon boot: $(cat boot.txt)"
	expect_match "$(cat boot.txt)" 'not loading any patch: lpmon.disable=1' "lpmon boot says why"
	expect_eq "$(enabled lpmon_fixes_v2)" "" "v2 not loaded"
	expect_match "$(tr -d ' \n' </run/lpmon/cves.json)" '"active":false,"cves_fixed":\[\]' "cves.json: nothing fixed"
	;;
crash)
	target_park 2
	echo 1 >/proc/sys/kernel/sysrq
	lpmon boot --timeout 600s >boot.txt 2>&1 &
	marker=/var/lib/lpmon/kernels/$release/boot-marker.json
	wait_for 60 "lpmon boot's load marker on disk" grep -q '"state":"loading"' "$marker"
	in_transition() { [ "$(klp_attr lpmon_fixes_v2 transition)" = 1 ]; }
	wait_for 60 "v2's transition stalled on the parked tasks" in_transition
	log "resetting the guest in the middle of the load"
	# sysrq b resets at once, without draining the serial line: give the lines above time to
	# reach the host (the host checks the stall line, which came earlier, in any case).
	sleep 1
	echo b >/proc/sysrq-trigger
	sleep 30
	fail "the guest did not reset"
	;;
skipped)
	lpmon boot >boot.txt 2>&1 && fail "lpmon boot exited 0 after a crashed load: $(cat boot.txt)"
	expect_match "$(cat boot.txt)" 'not loading lpmon_fixes_v2-[0-9a-f]+: its load at an earlier boot' "lpmon boot skips v2"
	expect_eq "$(enabled lpmon_fixes_v2)" "" "v2 not loaded"
	lpmon status >status.txt || true
	expect_match "$(cat status.txt)" 'Skipped at boot: +lpmon_fixes_v2-' "lpmon status reports the skipped release"
	expect_match "$(cat /var/log/lpmon/audit.log)" '"event":"boot-skipped-crashed"' "audit log records the skip"
	lpmon-exporter --no-bpf --web.listen-address=127.0.0.1:9812 >exporter.log 2>&1 &
	exporter_pid=$!
	wait_for 60 "exporter serving" wget -q -O metrics.txt http://127.0.0.1:9812/metrics
	expect_match "$(cat metrics.txt)" 'lpmon_boot_load_skipped\{release="lpmon_fixes_v2-[0-9a-f]+"\} 1' "exporter publishes the skip"
	kill "$exporter_pid"
	lpmon install "$v2" >install.txt 2>&1 || fail "install retries v2: $(cat install.txt)"
	expect_eq "$(enabled lpmon_fixes_v2)" 1 "v2 enabled by lpmon install"
	expect_eq "$(lpmon status --json | tr -d ' \n' | grep -c '"skipped_at_boot":null')" 1 "no skip reported after the retry"
	;;
*) fail "unknown phase '$phase'" ;;
esac
sync
umount /var/lib/lpmon || fail "umount the store"
ok "phase $phase done"
