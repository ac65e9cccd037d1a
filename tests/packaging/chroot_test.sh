#!/usr/bin/env bash
# The packages on a clean Debian 12: a minimal bookworm root (mmdebstrap --variant=apt,
# cached by scripts/setup.sh in BUILD_DIR/debian-root/bookworm-apt.tar) is unpacked afresh,
# apt installs both .deb files there, fetching their Depends from Debian's registry, then the
# binaries run in it (chroot): --version, --help, the exporter serving /metrics; a purge
# removes them. Needs root (chroot, mounts), or sudo without a password.
# usage: chroot_test.sh BUILD_DIR DEBS_DIR
set -uo pipefail
build=$(realpath "$1")
debs=$(realpath "$2")
tarball="$build/debian-root/bookworm-apt.tar"
# shellcheck source=tests/lib/checks.sh
. "$(dirname "$0")/../lib/checks.sh"
if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  echo "FAIL: chroot_test.sh needs root or password-less sudo (chroot, mount)"
  exit 1
fi
[ -f "$tarball" ] || { echo "FAIL: $tarball is missing: run scripts/setup.sh"; exit 1; }

work=$(mktemp -d)
root="$work/root"
exporter_pid=
cleanup() {
  [ -z "$exporter_pid" ] || as_root kill "$exporter_pid" 2>/dev/null
  for m in "$root/sys" "$root/proc"; do mountpoint -q "$m" && as_root umount "$m"; done
  as_root rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)
version=$("$build/cli/lpmon" --version | sed -n 's/^lpmon //p')
arch=$(dpkg --print-architecture)
mkdir "$root"
as_root tar -C "$root" -xf "$tarball" || { echo "FAIL: unpacking $tarball"; exit 1; }
as_root cp /etc/resolv.conf "$root/etc/resolv.conf"
as_root mount -t proc proc "$root/proc"       # the loader resolves $ORIGIN through /proc
as_root mount -t sysfs -o ro sysfs "$root/sys" # the exporter reads /sys/kernel
as_root cp "$debs"/*.deb "$root/tmp/"
in_root() { as_root chroot "$root" "$@"; }
echo "unpacked in $(($(date +%s) - start)) s"

if in_root apt-get update -qq >"$work/apt.log" 2>&1 &&
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "/tmp/lpmon_$version-1_$arch.deb" "/tmp/lpmon-exporter_$version-1_$arch.deb" >>"$work/apt.log" 2>&1; then
  ok "apt installs both packages and their Depends on a clean bookworm"
else
  bad "apt-get install in the clean root: $(tail -n 15 "$work/apt.log")"
fi
echo "installed in $(($(date +%s) - start)) s"
expect_eq "$(in_root dpkg-query -W -f='${Package}=${Version} ' lpmon lpmon-exporter)" \
  "lpmon=$version-1 lpmon-exporter=$version-1 " "both are installed"
expect_eq "$(in_root lpmon --version 2>&1)" "lpmon $version" "lpmon --version"
if in_root lpmon --help >"$work/help" 2>&1 && grep -q '^Subcommands:' "$work/help"; then
  ok "lpmon --help"
else
  bad "lpmon --help: $(head -n 5 "$work/help")"
fi
# lpmon status answers with one of its documented codes on whatever kernel runs this test.
in_root lpmon status >"$work/status" 2>&1
rc=$?
case $rc in 0 | 3 | 4 | 5) ok "lpmon status runs (exit $rc)" ;; *) bad "lpmon status exited $rc: $(cat "$work/status")" ;; esac
expect_eq "$(in_root lpmon-exporter --version 2>&1)" "lpmon-exporter $version" "lpmon-exporter --version"
if in_root lpmon-exporter --help >"$work/help" 2>&1 && grep -q -- '--web.listen-address' "$work/help"; then
  ok "lpmon-exporter --help"
else
  bad "lpmon-exporter --help: $(head -n 5 "$work/help")"
fi
expect_eq "$(readlink "$root/etc/systemd/system/multi-user.target.wants/lpmon-exporter.service")" \
  /lib/systemd/system/lpmon-exporter.service "lpmon-exporter.service is enabled"

# The installed exporter serves /metrics (sysfs and procfs only: --no-bpf) on a free port.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_root chroot "$root" lpmon-exporter --no-bpf --web.listen-address="127.0.0.1:$port" >"$work/exporter.log" 2>&1 &
exporter_pid=$!
metrics=
for _ in $(seq 1 100); do
  metrics=$(curl -sf "http://127.0.0.1:$port/metrics") && break
  kill -0 "$exporter_pid" 2>/dev/null || break
  sleep 0.2
done
if grep -q "^lpmon_exporter_build_info{version=\"$version\"} 1" <<<"$metrics"; then
  ok "the installed lpmon-exporter serves /metrics"
else
  bad "the installed lpmon-exporter serves no metrics: $(cat "$work/exporter.log")"
fi
as_root kill "$exporter_pid" 2>/dev/null
wait "$exporter_pid" 2>/dev/null
exporter_pid=

if in_root dpkg --purge lpmon-exporter lpmon >"$work/purge.log" 2>&1; then ok "dpkg purges both"; else bad "dpkg --purge: $(tail -n 5 "$work/purge.log")"; fi
left=$(for f in /usr/bin/lpmon /usr/bin/lpmon-exporter /etc/default/lpmon-exporter \
  /etc/systemd/system/multi-user.target.wants/lpmon-exporter.service; do
  [ -e "$root$f" ] || [ -L "$root$f" ] && echo "$f"
done)
expect_eq "$left" "" "purge leaves no binary, conffile or enablement behind"

echo "took $(($(date +%s) - start)) s"
echo "packaging chroot: $([ "$failed" -eq 0 ] && echo passed || echo FAILED)"
exit "$failed"
