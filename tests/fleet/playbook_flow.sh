#!/usr/bin/env bash
# deploy/ansible on the host, in seconds: the playbook parses, the shipped gates validate
# with the real lpmon, and the role's control flow holds with a stand-in lpmon (fake-lpmon)
# on three local "hosts": a failure in wave 2 reverts wave 2 only, a preflight failure
# touches nothing, a re-run sends nothing again, --check changes nothing. The guest test
# vm.fleet runs the same playbook against real kernels.
# usage: playbook_flow.sh LPMON
set -uo pipefail
lpmon=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
playbook="$repo/deploy/ansible/rollout.yml"
command -v ansible-playbook >/dev/null || { echo "ansible-playbook not found (run scripts/setup.sh)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/lib/checks.sh
. "$(dirname "$0")/../lib/checks.sh"
# expect_grep FILE TEXT WHAT: FILE has the fixed string TEXT
expect_grep() {
  if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3: '$2' is not in $(basename "$1")"; fi
}

export ANSIBLE_HOME="$work/ansible-home" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_NOCOLOR=1
: >"$work/ansible.cfg" # no ansible.cfg of the machine or the working directory applies
export ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_PYTHON_INTERPRETER=auto_silent
if out=$(ansible-playbook --syntax-check -i localhost, "$playbook" 2>&1); then
  ok "ansible-playbook --syntax-check"
else
  bad "ansible-playbook --syntax-check: $out"
fi
for gate in "$repo"/deploy/ansible/gates/*.yaml; do
  args=()
  grep -q '^args:' "$gate" && args=(--arg 'instance=web-1[.]example:9812' --arg patch=p --arg hosts=1)
  if out=$("$lpmon" gate "$gate" --dry-run "${args[@]}" 2>&1 >/dev/null); then
    ok "lpmon gate --dry-run $(basename "$gate")"
  else
    bad "lpmon gate --dry-run $(basename "$gate"): $out"
  fi
done

echo fake-module >"$work/acme_fixes_v2.ko"
cat >"$work/inventory.ini" <<EOF2
[lpmon_fleet]
h1
h2
h3

[lpmon_fleet:vars]
ansible_connection=local
lpmon_bin=FAKE_HOST=$work/{{ inventory_hostname }} $here/fake-lpmon
lpmon_remote_dir=$work/{{ inventory_hostname }}/patches
EOF2

# rollout LOG [ARGS...]: the playbook in waves of 1 and 2; exit code in $rc.
rollout() {
  local log=$1
  shift
  FAKE_CONTROL="$work/control" FAKE_GATE_FAILS="$work/gate-fails" ansible-playbook \
    -i "$work/inventory.ini" "$playbook" -e lpmon_become=false -e lpmon_bake_time=0 \
    -e lpmon_patch="$work/acme_fixes_v2.ko" -e lpmon_prometheus_url=http://127.0.0.1:9 \
    -e lpmon_control_bin="$here/fake-lpmon" -e '{"lpmon_waves": [1, 2]}' "$@" >"$work/$log" 2>&1
  rc=$?
}
# state: which hosts have the patch enabled, e.g. "h1 h3"
state() { (cd "$work" && for h in h1 h2 h3; do [ -e "$h/enabled" ] && echo "$h"; done) | paste -sd ' ' -; }
# calls HOST REGEX: how many lpmon calls on HOST match ^REGEX
calls() {
  if [ -f "$work/$1/calls" ]; then grep -c "^$2" "$work/$1/calls"; else echo 0; fi
}
reset() { rm -rf "$work"/h[123] "$work/control" "$work/gate-fails"; mkdir -p "$work"/h{1,2,3}; }
show_log() { [ "$failed" -eq 0 ] || { echo "--- $1"; tail -n 30 "$work/$1"; }; }

reset
rollout check.log --check
expect_eq "$rc" 0 "--check passes"
expect_eq "$(state)" "" "--check enables nothing"
expect_eq "$(find "$work"/h[123] -name '*.ko' | wc -l)" 0 "--check copies nothing"
expect_eq "$(calls control 'gate .*--dry-run')" 2 "--check validates the wave gate per wave"

reset
rollout good.log
expect_eq "$rc" 0 "a good rollout succeeds"
expect_eq "$(state)" "h1 h2 h3" "a good rollout enables every host"
expect_eq "$(calls control gate)" 2 "one wave gate per wave"
rollout again.log
expect_eq "$rc" 0 "a second run succeeds"
expect_eq "$(grep -c '^changed: ' "$work/again.log")" 0 "a second run changes nothing"

reset
touch "$work/h3/fail-apply"
rollout wave2.log
expect_eq "$rc" 2 "a failed apply in wave 2 fails the playbook"
expect_eq "$(state)" h1 "wave 2 is reverted, wave 1 keeps the patch"
expect_eq "$(calls h2 uninstall)" 1 "h2, whose apply passed, is reverted with its wave"
expect_eq "$(calls control gate)" 1 "wave 2 is not gated"
expect_grep "$work/wave2.log" 'stopped at wave h2, h3: lpmon apply failed: h3: lpmon apply exited 12: gate host.yaml' "the failure names the host and the gate's reason"
show_log wave2.log

reset
touch "$work/gate-fails"
rollout gate.log
expect_eq "$rc" 2 "a failed wave gate fails the playbook"
expect_eq "$(state)" "" "the first wave is reverted"
expect_eq "$(calls h2 install)$(calls h3 install)" 00 "hosts 2 and 3 are never touched"
expect_grep "$work/gate.log" 'wave gate wave.yaml: Failed (exit 1): patch-enabled-everywhere' "the failure gives the wave gate's verdict and reason"
show_log gate.log

reset
touch "$work/h2/fail-status"
rollout preflight.log
expect_eq "$rc" 2 "a failed preflight fails the playbook"
expect_eq "$(state)" h1 "wave 1 keeps the patch"
expect_eq "$(calls h3 install)$(calls h2 uninstall)$(calls h3 uninstall)" 000 "nothing of wave 2 is applied or reverted"
expect_eq "$(find "$work/h3" -name '*.ko' | wc -l)" 0 "nothing is copied to wave 2"
expect_grep "$work/preflight.log" 'preflight failed: h2: lpmon status exited 5' "the failure says which host failed preflight and why"
show_log preflight.log

# A fleet of two kernel lines: lpmon_patch lists one build per release, each host gets the
# one built for its `uname -r`, and a host whose release has no build fails preflight.
mkdir -p "$work/k6.1" "$work/k6.12"
printf 'fake-module\nrelease=6.1.0-57-amd64\n' >"$work/k6.1/acme_fixes_v2.ko"
printf 'fake-module\nrelease=6.12.118+deb12-amd64\n' >"$work/k6.12/acme_fixes_v2.ko"
release_of() { cat "$work/release-$1"; }
mixed() {
  local log=$1
  shift
  rollout "$log" -e "{\"lpmon_patch\": [\"$work/k6.1/acme_fixes_v2.ko\", \"$work/k6.12/acme_fixes_v2.ko\"]}" \
    -e "lpmon_release_command='cat $work/release-{{ inventory_hostname }}'" "$@"
}
# copied HOST: the releases of the modules copied to HOST
copied() { find "$work/$1" -name '*.ko' -exec sed -n 's/^release=//p' {} + | sort -u | paste -sd ' ' -; }
reset
echo 6.1.0-57-amd64 >"$work/release-h1"
echo 6.12.118+deb12-amd64 >"$work/release-h2"
echo 6.1.0-57-amd64 >"$work/release-h3"
mixed mixed.log
expect_eq "$rc" 0 "a rollout over two kernel lines succeeds"
expect_eq "$(state)" "h1 h2 h3" "every host of both lines is patched"
expect_eq "$(copied h1)/$(copied h2)/$(copied h3)" "6.1.0-57-amd64/6.12.118+deb12-amd64/6.1.0-57-amd64" \
  "each host got the module built for its release"
show_log mixed.log
reset
echo 6.12.999+deb12-amd64 >"$work/release-h2"
mixed mixed-missing.log
expect_eq "$rc" 2 "a host whose release has no module fails the rollout"
expect_eq "$(state)" h1 "wave 1 keeps the patch, wave 2 is not touched"
expect_grep "$work/mixed-missing.log" 'h2: no module among lpmon_patch is built for kernel 6.12.999+deb12-amd64' \
  "the failure names the host and its release"
show_log mixed-missing.log
reset
echo 6.12.118+deb12-amd64 >"$work/release-h2"
rollout single-mismatch.log -e lpmon_patch="$work/k6.1/acme_fixes_v2.ko" \
  -e "lpmon_release_command='cat $work/release-{{ inventory_hostname }}'"
expect_eq "$rc" 2 "one module for a fleet of two lines fails preflight on the other line"
expect_grep "$work/single-mismatch.log" 'is built for kernel 6.1.0-57-amd64, not 6.12.118+deb12-amd64' \
  "the failure says which kernel the module is for"
show_log single-mismatch.log

# Packages (role lpmon_packages): each wave's hosts get lpmon's .deb files before the patch.
# Stand-in packages, installed by the real dpkg into an empty root per host; a host with a
# file fail-install fails its install.
for p in lpmon lpmon-exporter; do
  mkdir -p "$work/pkg/$p/DEBIAN" "$work/pkg/$p/usr/share/doc/$p"
  printf 'Package: %s\nVersion: 9.0-1\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: stand-in\n' \
    "$p" >"$work/pkg/$p/DEBIAN/control"
  echo "$p" >"$work/pkg/$p/usr/share/doc/$p/marker"
  dpkg-deb --root-owner-group --build "$work/pkg/$p" "$work/${p}_9.0-1_all.deb" >/dev/null
done
cat >"$work/install-debs" <<'EOF2'
#!/bin/sh
# install-debs HOST_DIR DEB...: dpkg -i into HOST_DIR/root, logged to HOST_DIR/dpkg-calls
host=$1
shift
echo "$*" >>"$host/dpkg-calls"
[ -e "$host/fail-install" ] && { echo "E: stand-in install failure"; exit 100; }
mkdir -p "$host/root/var/lib/dpkg/info" "$host/root/var/lib/dpkg/updates"
touch "$host/root/var/lib/dpkg/status"
exec dpkg --root="$host/root" --force-script-chrootless --log=/dev/null -i "$@"
EOF2
chmod +x "$work/install-debs"
with_packages() {
  local log=$1
  shift
  rollout "$log" -e "{\"lpmon_packages\": [\"$work/lpmon_9.0-1_all.deb\", \"$work/lpmon-exporter_9.0-1_all.deb\"]}" \
    -e "lpmon_package_dir=$work/{{ inventory_hostname }}/debs" \
    -e "lpmon_package_query='dpkg-query --root=$work/{{ inventory_hostname }}/root'" \
    -e "lpmon_package_install='$work/install-debs $work/{{ inventory_hostname }}'" "$@"
}
# installed HOST: the packages dpkg has installed in HOST's root
installed() {
  dpkg-query --root="$work/$1/root" -W -f='${Package}=${Version} ' lpmon lpmon-exporter 2>/dev/null | sed 's/ $//'
}
dpkg_calls() { if [ -f "$work/$1/dpkg-calls" ]; then wc -l <"$work/$1/dpkg-calls"; else echo 0; fi; }
reset
with_packages pkg-check.log --check
expect_eq "$rc" 0 "--check with packages passes"
expect_eq "$(dpkg_calls h1)$(dpkg_calls h2)$(dpkg_calls h3)" 000 "--check installs nothing"
reset
with_packages pkg.log
expect_eq "$rc" 0 "a rollout with packages succeeds"
expect_eq "$(installed h1)/$(installed h2)/$(installed h3)" \
  "lpmon=9.0-1 lpmon-exporter=9.0-1/lpmon=9.0-1 lpmon-exporter=9.0-1/lpmon=9.0-1 lpmon-exporter=9.0-1" \
  "every host has both packages installed"
expect_eq "$(state)" "h1 h2 h3" "and is patched"
show_log pkg.log
with_packages pkg-again.log
expect_eq "$rc" 0 "a second run with packages succeeds"
expect_eq "$(dpkg_calls h1)$(dpkg_calls h2)$(dpkg_calls h3)" 111 "a second run installs nothing again"
expect_eq "$(grep -c '^changed: ' "$work/pkg-again.log")" 0 "a second run with packages changes nothing"
reset
touch "$work/h2/fail-install"
with_packages pkg-fail.log
expect_eq "$rc" 2 "a failed package install fails the playbook"
expect_eq "$(state)" h1 "wave 1 keeps the patch, wave 2 is not patched"
expect_eq "$(calls h2 install)$(calls h3 install)$(calls h2 uninstall)$(calls h3 uninstall)" 0000 \
  "nothing of wave 2 is applied or reverted"
expect_grep "$work/pkg-fail.log" 'lpmon packages are not installed on every host of the wave: h2: installing lpmon_9.0-1_all.deb, lpmon-exporter_9.0-1_all.deb exited 100: E: stand-in install failure' \
  "the failure names the host and apt's error"
show_log pkg-fail.log

echo "playbook flow: $([ "$failed" -eq 0 ] && echo passed || echo FAILED)"
exit "$failed"
