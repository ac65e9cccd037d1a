# Guest half of tests/vm/fleet/rollout.sh: one host of a three-host fleet. It serves ssh
# (dropbear, sftp-server for Ansible's file transfer) and lpmon-exporter, loads lpmon_target,
# says it is ready, and stays up while the host's Ansible rolls patches out to it, until
# the host creates /run/fleet-done. Then the kernel log must be clean.
. /lib/lpmon/lib.sh
require_livepatch

name=$(cat /etc/lpmon-fleet/name)
hostname "$name"
# Ansible's ssh asks for a pty (ssh -tt); root logs in with a key only.
mkdir -p /dev/pts /var/lib/lpmon
mount -t devpts devpts /dev/pts || fail "mount devpts"
echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
chmod 700 /root /root/.ssh
chmod 600 /root/.ssh/authorized_keys /etc/dropbear/dropbear_ed25519_host_key

lpmon-exporter --web.listen-address :9812 2>exporter.log &
exporter_pid=$!
# -s: no passwords; -F -E: foreground, log to stderr.
dropbear -F -E -s -p 22 -r /etc/dropbear/dropbear_ed25519_host_key 2>dropbear.log &
dropbear_pid=$!
klp_load lpmon_target
wait_for 60 "exporter attached its tracer" grep -q "transition tracer attached" exporter.log
wait_for 30 "ssh server listening" grep -q "Not backgrounding" dropbear.log
log "fleet host $name ready"

# The host driver ends the test; the driver's own timeout bounds this wait.
while [ ! -e /run/fleet-done ]; do usleep 200000; done
log "the host driver is done"
kill "$exporter_pid" "$dropbear_pid"
wait "$exporter_pid"
cp -r /var/lib/lpmon lpmon-state 2>/dev/null
dmesg_clean
