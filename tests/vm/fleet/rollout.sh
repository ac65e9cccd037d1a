#!/usr/bin/env bash
# Fleet rollout in waves: three 6.1 guests booted in parallel (user-mode networking, ssh and
# lpmon-exporter forwarded on loopback ports), the host's Prometheus scraping the three
# exporters, and Debian's Ansible on the host running deploy/ansible/rollout.yml.
#   --check   : preflight only; nothing is copied or loaded anywhere.
#   scenario A: lpmon_fixes_v1 in waves of 1 and 2 hosts ends enabled on all three.
#   scenario B: lpmon_fixes_v2 with tasks parked on host 1 in a function v2 replaces: its
#               transition stalls, lpmon apply's gate fails, the wave is reverted, hosts 2
#               and 3 are never touched, and the playbook fails with the gate's reason.
# One boot serves them all: B and C upgrade from A's v1, so they come after it.
# usage: rollout.sh RUN_GUEST_ARGS... (as run-guest.sh; --out is the parent of each guest's)
#   scenario C: lpmon_fixes_v2_no0002 applies cleanly on host 1, but the wave's Prometheus gate
#               wants CVE-2099-0002 fixed: the rescue's lpmon uninstall takes the patch off
#               host 1 and reinstates v1 from its patch store (lpmon install put it there).
# Needs LPMON (the host's lpmon binary) and LPMON_PATCH_V1, _V2, _V2_NO0002 (the .ko files).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
playbook="$repo/deploy/ansible/rollout.yml"

args=("$@") out=
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = --out ] && out=${args[$((i + 1))]}
done
[ -n "$out" ] || { echo "rollout.sh: --out is required" >&2; exit 2; }
for v in LPMON LPMON_PATCH_V1 LPMON_PATCH_V2 LPMON_PATCH_V2_NO0002; do
  [ -f "${!v:-}" ] || { echo "rollout.sh: $v (${!v:-unset}) is not a file" >&2; exit 1; }
done
for tool in ansible-playbook dropbear dropbearkey ssh-keygen prometheus curl python3; do
  command -v "$tool" >/dev/null ||
    { echo "rollout.sh: $tool not found (run scripts/setup.sh)" >&2; exit 1; }
done
[ -x /usr/lib/openssh/sftp-server ] ||
  { echo "rollout.sh: /usr/lib/openssh/sftp-server not found (package openssh-sftp-server)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
prom_pid='' guest_pids=()
cleanup() {
  set +e # best effort: the verdict is already decided
  local pid
  for pid in "${guest_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${guest_pids[@]}"; do wait "$pid" 2>/dev/null; done
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
. "$here/../prometheus/lib.sh"

# shellcheck source=tests/lib/checks.sh
. "$(dirname "$0")/../../lib/checks.sh"
# expect_match TEXT REGEX WHAT: TEXT matches REGEX
expect_match() {
  if printf '%s\n' "$1" | grep -qE -- "$2"; then ok "$3"; else bad "$3: '$1' does not match /$2/"; fi
}
die() {
  echo "FAIL: $*"
  diagnose
  exit 1
}
diagnose() {
  local h
  echo "--- Prometheus' targets"
  curl -s "${api:-none}/targets" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print(" ", t["scrapeUrl"], t["health"], t["lastError"])' 2>&1
  echo "--- lpmon_livepatch_supported"
  curl -s --get "${api:-none}/query" --data-urlencode query=lpmon_livepatch_supported
  echo
  echo "--- prometheus log"
  tail -n 20 "$work/prometheus.log"
  for h in "${hosts[@]}"; do
    echo "--- $h (run-guest and guest output)"
    tail -n 20 "$work/$h.run.log"
    tr -d '\r' <"$out/$h/result.log" 2>/dev/null | tail -n 20
  done
}
phase_start=$(date +%s)
phase() {
  local now
  now=$(date +%s)
  echo "== $* (+$((now - phase_start)) s)"
}

# --- keys: the client's, and one host key per guest with its known_hosts line
ssh-keygen -q -t ed25519 -N '' -C lpmon-fleet-test -f "$work/id_ed25519"
hosts=(fleet-1 fleet-2 fleet-3)
declare -A ssh_port exporter_port
: >"$work/known_hosts"
for h in "${hosts[@]}"; do
  ssh_port[$h]=$(free_port)
  exporter_port[$h]=$(free_port)
  mkdir -p "$work/$h"
  dropbearkey -t ed25519 -f "$work/$h/host_key" >/dev/null 2>&1
  echo "[127.0.0.1]:${ssh_port[$h]} $(dropbearkey -y -f "$work/$h/host_key" | grep '^ssh-')" >>"$work/known_hosts"
  echo "$h" >"$work/$h/name"
done

# --- the ssh server and its libraries go into each guest as extra files
server_files=(--file "$work/id_ed25519.pub:root/.ssh/authorized_keys"
  --file /usr/sbin/dropbear:usr/sbin/dropbear --file /usr/lib/openssh/sftp-server:usr/lib/sftp-server)
while read -r lib; do
  server_files+=(--file "$lib:${lib#/}")
done < <(ldd /usr/sbin/dropbear /usr/lib/openssh/sftp-server | grep -o '/[^ ]*' | sort -u)

# --- Prometheus scrapes the three exporters every second (plain HTTP on loopback)
prom_port=$(free_port)
{
  printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n'
  printf '  - job_name: lpmon\n    static_configs:\n      - targets: ['
  for h in "${hosts[@]}"; do printf '"127.0.0.1:%s",' "${exporter_port[$h]}"; done | sed 's/,$//'
  printf ']\n'
} >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$prom_port/api/v1/status/buildinfo" >/dev/null && break; sleep 0.2; done
prom_url="http://127.0.0.1:$prom_port"
api="$prom_url/api/v1"

# --- boot the three guests at once
phase "booting ${hosts[*]}"
for h in "${hosts[@]}"; do
  "$here/../run-guest.sh" "$@" --out "$out/$h" --name "fleet $h" --quiet \
    --forward "${ssh_port[$h]}:22" --forward "${exporter_port[$h]}:9812" \
    --file "$work/$h/name:etc/lpmon-fleet/name" \
    --file "$work/$h/host_key:etc/dropbear/dropbear_ed25519_host_key" "${server_files[@]}" \
    >"$work/$h.run.log" 2>&1 &
  guest_pids+=($!)
done

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.5 s (a function that asks anew).
wait_for() {
  local timeout=$1 what=$2 start=$SECONDS
  shift 2
  until "$@"; do
    [ $((SECONDS - start)) -lt "$timeout" ] || die "$what: not within $timeout s"
    sleep 0.5
  done
  ok "$what (after $((SECONDS - start)) s)"
}
value_is() { [ "$(value "$1")" = "$2" ]; }
guest_ready() { grep -q "fleet host $1 ready" "$out/$1/result.log" 2>/dev/null; }
guests_alive() {
  local pid
  for pid in "${guest_pids[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done
}
all_guests_ready() {
  guests_alive || die "a guest ended before it was ready"
  for h in "${hosts[@]}"; do guest_ready "$h" || return 1; done
}
# Three TCG guests share two cores: booting takes a while under load.
wait_for 300 "three guests ready" all_guests_ready
wait_for 60 "Prometheus scrapes the three exporters" value_is 'count(lpmon_livepatch_supported == 1)' 3

# --- Ansible, configured inside the test: its own config, key, known_hosts and temp dirs
cat >"$work/inventory.ini" <<EOF2
[lpmon_fleet]
$(for h in "${hosts[@]}"; do
  echo "$h ansible_host=127.0.0.1 ansible_port=${ssh_port[$h]} lpmon_instance=127.0.0.1:${exporter_port[$h]}"
done)

[lpmon_fleet:vars]
ansible_user=root
ansible_ssh_private_key_file=$work/id_ed25519
EOF2
cat >"$work/ansible.cfg" <<EOF2
[defaults]
inventory = $work/inventory.ini
host_key_checking = True
retry_files_enabled = False
nocolor = True
timeout = 60
local_tmp = $work/ansible-local
forks = 3

[ssh_connection]
ssh_args = -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=120s
control_path_dir = $work/cp
EOF2
export ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_HOME="$work/ansible-home"

# ssh_to HOST COMMAND: run COMMAND on a guest as Ansible would reach it.
ssh_to() {
  local h=$1
  shift
  ssh -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -i "$work/id_ed25519" -p "${ssh_port[$h]}" root@127.0.0.1 "$@"
}

# rollout LOG EXTRA-ARGS...: the playbook with the test's variables; its exit code in $rc.
rollout() {
  local log=$1
  shift
  set +e
  ansible-playbook "$playbook" \
    -e lpmon_become=false -e lpmon_control_bin="$LPMON" -e lpmon_prometheus_url="$prom_url" \
    -e lpmon_host_gate="$here/host-gate.yaml" -e lpmon_wave_gate="$here/wave-gate.yaml" \
    -e lpmon_bake_time=2 -e lpmon_apply_timeout=20s -e lpmon_gate_timeout=2m \
    -e '{"lpmon_waves": [1, 2]}' "$@" >"$out/$log" 2>&1
  rc=$?
  set -e
  echo "ansible-playbook exited $rc ($out/$log)"
}

# waves LOG TASK: the hosts each run of TASK reported on (sorted), one run per line.
waves() {
  awk -v task="$2" '/^TASK \[/ { inside = index($0, task) > 0; if (inside) printf "\n" }
    inside && /^(ok|changed|fatal|failed|skipping): \[/ { sub(/^[a-z]*: \[/, ""); sub(/[] ].*/, ""); printf "%s ", $0 }
    END { printf "\n" }' \
    "$out/$1" | sed '/^ *$/d' | while read -r line; do echo "$line" | tr ' ' '\n' | sort | paste -sd ' ' -; done
}
sysfs_patch() { ssh_to "$1" "cat /sys/kernel/livepatch/$2/enabled 2>/dev/null || echo absent"; }
module_loaded() { ssh_to "$1" "test -d /sys/module/$2 && echo loaded || echo unloaded"; }
parked_is() { [ "$(ssh_to "$1" cat /sys/kernel/debug/lpmon_target/parked)" = "$2" ]; }
patch_files() { ssh_to "$1" "find /var/lib/lpmon -name '$2.ko' 2>/dev/null | wc -l"; }

# --- --check: every host passes preflight and nothing changes
phase "ansible-playbook --check (lpmon_fixes_v1)"
rollout check.log --check -e lpmon_patch="$LPMON_PATCH_V1"
expect_eq "$rc" 0 "--check: the playbook's exit code"
for h in "${hosts[@]}"; do
  expect_eq "$(sysfs_patch "$h" lpmon_fixes_v1)" absent "$h: --check loaded nothing"
  expect_eq "$(patch_files "$h" lpmon_fixes_v1)" 0 "$h: --check copied nothing"
done

# --- scenario A: a good cumulative patch in waves of 1 and 2 hosts
phase "scenario A: lpmon_fixes_v1 in waves [1, 2]"
rollout a.log -e lpmon_patch="$LPMON_PATCH_V1"
expect_eq "$rc" 0 "scenario A: the playbook's exit code"
expect_eq "$(waves a.log "Apply the patch" | paste -sd '/' -)" "fleet-1/fleet-2 fleet-3" \
  "scenario A: lpmon apply ran in waves"
expect_eq "$(waves a.log "Gate the wave through Prometheus" | wc -l)" 2 "scenario A: wave gates run"
for h in "${hosts[@]}"; do
  expect_eq "$(sysfs_patch "$h" lpmon_fixes_v1)" 1 "$h: lpmon_fixes_v1 enabled"
done
wait_for 30 "Prometheus sees lpmon_fixes_v1 enabled on the three hosts" \
  value_is 'count(lpmon_patch_enabled{patch="lpmon_fixes_v1"} == 1)' 3
# Wave 1 was gated before wave 2 was touched: host 1 was enabled while 2 and 3 were not.
host1="instance=\"127.0.0.1:${exporter_port[fleet-1]}\"" others="instance!=\"127.0.0.1:${exporter_port[fleet-1]}\""
first=$(value "min_over_time(timestamp(lpmon_patch_enabled{patch=\"lpmon_fixes_v1\",$host1} == 1)[10m:1s])")
later=$(value "min(min_over_time(timestamp(lpmon_patch_enabled{patch=\"lpmon_fixes_v1\",$others} == 1)[10m:1s]))")
expect_eq "$(python3 -c 'import sys; print(float(sys.argv[1]) < float(sys.argv[2]))' "${first:-nan}" "${later:-nan}")" \
  True "scenario A: Prometheus saw host 1 patched before hosts 2 and 3 ($first < $later)"

# --- scenario B: a patch that stalls fails the first wave's gate
phase "scenario B: lpmon_fixes_v2 with tasks parked on fleet-1"
ssh_to fleet-1 'echo "kthreads 2" >/sys/kernel/debug/lpmon_target/park'
wait_for 30 "two tasks parked on fleet-1" parked_is fleet-1 2
rollout b.log -e lpmon_patch="$LPMON_PATCH_V2"
expect_eq "$rc" 2 "scenario B: the playbook's exit code (hosts failed)"
reason=$(grep -o 'lpmon rollout of lpmon_fixes_v2.ko stopped at wave fleet-1: [^"]*' "$out/b.log" | head -n 1 || true)
expect_match "$reason" 'lpmon apply exited 12: .*did not finish within 5s' "scenario B: the playbook gives the gate's reason"
expect_match "$reason" 'fleet-1 reverted' "scenario B: the playbook says fleet-1 was reverted"
expect_eq "$(waves b.log "Apply the patch" | paste -sd '/' -)" fleet-1 "scenario B: lpmon apply ran on"
expect_eq "$(sysfs_patch fleet-1 lpmon_fixes_v2)" absent "fleet-1: lpmon_fixes_v2 reverted"
expect_eq "$(module_loaded fleet-1 lpmon_fixes_v2)" unloaded "fleet-1: lpmon_fixes_v2 module"
for h in "${hosts[@]}"; do
  expect_eq "$(sysfs_patch "$h" lpmon_fixes_v1)" 1 "$h: lpmon_fixes_v1 still enabled"
done
for h in fleet-2 fleet-3; do
  expect_eq "$(patch_files "$h" lpmon_fixes_v2)" 0 "$h: never touched: lpmon_fixes_v2 files"
  expect_eq "$(module_loaded "$h" lpmon_fixes_v2)" unloaded "$h: never touched: lpmon_fixes_v2 module"
done
expect_eq "$(value "max_over_time(lpmon_patch_in_transition{patch=\"lpmon_fixes_v2\",$host1}[10m])")" 1 \
  "scenario B: Prometheus saw fleet-1's transition of lpmon_fixes_v2 running"
expect_eq "$(value "count(max_over_time(lpmon_patch_enabled{patch=\"lpmon_fixes_v2\",$others}[10m])) or vector(0)")" 0 \
  "scenario B: lpmon_fixes_v2 series Prometheus ever saw on hosts 2 and 3"
ssh_to fleet-1 'echo release >/sys/kernel/debug/lpmon_target/park'
wait_for 30 "the parked tasks on fleet-1 released" parked_is fleet-1 0

# --- scenario C: the wave's Prometheus gate fails, and the rescue reverts a patch that applied
phase "scenario C: lpmon_fixes_v2_no0002 against a gate that wants CVE-2099-0002 fixed"
rollout c.log -e lpmon_patch="$LPMON_PATCH_V2_NO0002" -e lpmon_wave_gate="$here/cve-gate.yaml"
expect_eq "$rc" 2 "scenario C: the playbook's exit code (hosts failed)"
reason=$(grep -o 'lpmon rollout of lpmon_fixes_v2_no0002.ko stopped at wave fleet-1: [^"]*' "$out/c.log" | head -n 1 || true)
expect_match "$reason" 'wave gate cve-gate.yaml: Failed .*fixes-cve-2099-0002' "scenario C: the playbook gives the wave gate's reason"
expect_match "$reason" 'fleet-1 reverted' "scenario C: the playbook says fleet-1 was reverted"
expect_eq "$(waves c.log "Apply the patch" | paste -sd '/' -)" fleet-1 "scenario C: lpmon apply ran on"
expect_eq "$(value "max_over_time(lpmon_patch_enabled{patch=\"lpmon_fixes_v2_no0002\",$host1}[10m])")" 1 \
  "scenario C: Prometheus saw lpmon_fixes_v2_no0002 enabled on fleet-1 before the revert"
expect_eq "$(sysfs_patch fleet-1 lpmon_fixes_v2_no0002)" absent "fleet-1: lpmon_fixes_v2_no0002 reverted by the rescue"
expect_eq "$(module_loaded fleet-1 lpmon_fixes_v2_no0002)" unloaded "fleet-1: lpmon_fixes_v2_no0002 module"
# Atomic replace freed v1 when the new patch completed; the rescue's lpmon uninstall goes back
# to the release installed before, loaded again from fleet-1's patch store.
expect_eq "$(sysfs_patch fleet-1 lpmon_fixes_v1)" 1 "fleet-1: lpmon_fixes_v1, the previous release, enabled again"
for h in fleet-2 fleet-3; do
  expect_eq "$(patch_files "$h" lpmon_fixes_v2_no0002)" 0 "$h: never touched: lpmon_fixes_v2_no0002 files"
  expect_eq "$(sysfs_patch "$h" lpmon_fixes_v1)" 1 "$h: lpmon_fixes_v1 still enabled"
done

# --- end: each guest checks its kernel log and passes or fails on its own
phase "stopping the guests"
for h in "${hosts[@]}"; do ssh_to "$h" 'touch /run/fleet-done' || bad "$h: cannot reach it to stop it"; done
for i in "${!hosts[@]}"; do
  if wait "${guest_pids[$i]}"; then
    ok "${hosts[$i]}: $(tail -n 1 "$work/${hosts[$i]}.run.log")"
  else
    bad "${hosts[$i]}: the guest failed:"
    tail -n 40 "$work/${hosts[$i]}.run.log"
  fi
done
guest_pids=()
phase "done"
if [ "$failed" -ne 0 ]; then
  for log in check.log a.log b.log c.log; do
    [ -f "$out/$log" ] && { echo "--- $log (tail)"; tail -n 40 "$out/$log"; }
  done
  diagnose
fi
exit "$failed"
