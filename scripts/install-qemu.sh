#!/usr/bin/env bash
# Installs QEMU 10 for the guest tests. On Debian 12 it comes from bookworm-backports: the
# QEMU 7.2 that bookworm ships crashes 6.12 guests under TCG (a task looping in the kernel
# hits the int3 of a call site that text_poke_bp had finished patching; see
# docs/kernels.md), QEMU 10 does not. Only the QEMU packages (and the seabios they need) are
# pinned to backports; every other package still comes from bookworm. Idempotent: with QEMU
# 10 installed it changes nothing. Called by scripts/setup.sh.
set -euo pipefail

min_version=1:10.0
suite=bookworm-backports
sources=/etc/apt/sources.list.d/lpmon-$suite.sources
pin=/etc/apt/preferences.d/lpmon-qemu-$suite
# qemu-system-x86 10 depends on these two at its own version, and on seabios >> 1.16.3-1~
# (bookworm has 1.16.2).
pinned=(qemu-system-x86 qemu-system-common qemu-system-data seabios)

log() { printf 'install-qemu: %s\n' "$*" >&2; }
die() { printf 'install-qemu: error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

installed_version() { dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true; }
recent_enough() {
  local v
  v=$(installed_version)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge "$min_version"
}

recent_enough && exit 0

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "$@" >/tmp/lpmon-install-qemu.log 2>&1 || {
    tail -n 20 /tmp/lpmon-install-qemu.log >&2
    die "could not install $* (see /tmp/lpmon-install-qemu.log)"
  }
}

if [ "$codename" = bookworm ]; then
  # Another source may already name bookworm-backports; a second one would only add warnings.
  if ! grep -rqs --include='*.list' --include='*.sources' -e "$suite" \
    /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding $suite to the apt sources ($sources)"
    as_root tee "$sources" >/dev/null <<EOF
# Added by lpmon's scripts/install-qemu.sh: QEMU 10 for the guest tests ($pin).
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  # Backports are never chosen on their own (NotAutomatic); this pin picks them for QEMU alone.
  if [ ! -f "$pin" ]; then
    log "pinning ${pinned[*]} to $suite ($pin)"
    as_root tee "$pin" >/dev/null <<EOF
# Added by lpmon's scripts/install-qemu.sh: QEMU 7.2's TCG crashes 6.12 guests.
Package: ${pinned[*]}
Pin: release n=$suite
Pin-Priority: 990
EOF
  fi
  log "apt-get update"
  as_root apt-get update -qq || die "apt-get update failed: is deb.debian.org reachable?"
  log "installing qemu-system-x86 from $suite"
  apt_install qemu-system-x86
else
  # Debian 13 and later ship QEMU 10 or newer themselves.
  apt_install qemu-system-x86
fi

recent_enough ||
  die "qemu-system-x86 $(installed_version) is installed, older than $min_version (apt-cache policy qemu-system-x86 says why)"
log "qemu-system-x86 $(installed_version)"
