#!/usr/bin/env bash
# Installs what lpmon needs to build and test on a Debian 12 machine, and fetches the
# test kernel (Debian's own linux-image-<abi>-amd64) into the build tree. Idempotent:
# a second run installs nothing and downloads nothing.
#
# Nothing is installed into /boot and the host's kernel is not touched: the image is
# unpacked with dpkg-deb -x into <build>/test-kernel/.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/setup.sh [--build-dir DIR] [--kernel-abi ABI] [--no-packages]

  --build-dir DIR   build tree to unpack the test kernel into (default: build)
  --kernel-abi ABI  pin the test kernel ABI, e.g. 6.1.0-56 (default: the ABI that
                    Debian's linux-headers-amd64 depends on today; env LPMON_KERNEL_ABI)
  --no-packages     do not run apt-get; only fetch and unpack the test kernel
EOF
}

repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=build
kernel_abi=${LPMON_KERNEL_ABI:-}
install_packages=1
while [ $# -gt 0 ]; do
  case "$1" in
  --build-dir) build_dir=$2; shift 2 ;;
  --kernel-abi) kernel_abi=$2; shift 2 ;;
  --no-packages) install_packages=0; shift ;;
  -h | --help) usage; exit 0 ;;
  *) echo "setup: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$build_dir" in /*) ;; *) build_dir="$repo_root/$build_dir" ;; esac

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Build, test and guest packages. The kernel headers are added below once the ABI is known.
packages=(
  build-essential cmake ninja-build pkg-config clang llvm clang-format clang-tidy git
  # libFuzzer's runtime for the fuzz targets (tests/fuzz, tests/fuzz-gate)
  libclang-rt-14-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev dwarves
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libcurl4-openssl-dev libcap-dev
  prometheus-cpp-dev libcivetweb-dev libssl-dev prometheus openssl
  # bench.exporter_scrape: load generator, and the exporter it is compared against
  wrk prometheus-node-exporter
  qemu-system-x86 busybox-static cpio xz-utils kmod
  # the kernel's livepatch selftests in the guest (vm.livepatch_selftests): bash and the
  # GNU/procps tools their scripts call, copied from here into the guest
  bash-static coreutils diffutils procps
  golang-go golang-github-victoriametrics-metricsql-dev python3-yaml python3-prometheus-client
  # fleet rollout test: Ansible on the host, an ssh server and sftp in each guest
  ansible-core dropbear-bin openssh-client openssh-sftp-server curl
  # lpmon verify's report check: a screenshot in headless Chromium, read with PIL
  chromium python3 python3-pil
  # lpmon build --diff: `make prepare` of Debian's kernel source with the kernel's compiler
  flex bison bc gcc-12 patch
)

apt_updated=0
apt_update_once() {
  [ "$apt_updated" -eq 1 ] && return 0
  log "apt-get update"
  as_root apt-get update -qq ||
    die "apt-get update failed: the Debian package registry is not reachable (check network/proxy)"
  apt_updated=1
}

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

install_missing() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_update_once
  log "installing ${missing[*]}"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/tmp/lpmon-setup-apt.log 2>&1; then
    tail -n 20 /tmp/lpmon-setup-apt.log >&2
    die "could not install: ${missing[*]} (see /tmp/lpmon-setup-apt.log)"
  fi
}

resolve_abi() {
  # linux-headers-amd64 depends on exactly one linux-headers-<abi>-amd64.
  local dep
  dep=$(apt-cache depends linux-headers-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-headers-\(.*\)-amd64$/\1/p' | head -n 1)
  if [ -z "$dep" ]; then
    apt_update_once
    dep=$(apt-cache depends linux-headers-amd64 2>/dev/null |
      sed -n 's/^ *Depends: linux-headers-\(.*\)-amd64$/\1/p' | head -n 1)
  fi
  [ -n "$dep" ] || die "cannot resolve the test kernel ABI: package linux-headers-amd64 is unknown to apt (pass --kernel-abi)"
  echo "$dep"
}

if [ "$install_packages" -eq 1 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 (bookworm)"
  install_missing "${packages[@]}"
fi

[ -n "$kernel_abi" ] || kernel_abi=$(resolve_abi)
release="${kernel_abi}-amd64"
log "test kernel: $release"

if [ "$install_packages" -eq 1 ]; then
  install_missing "linux-headers-$release"
fi
[ -d "/usr/src/linux-headers-$release" ] ||
  die "kernel headers /usr/src/linux-headers-$release are missing (package linux-headers-$release)"

# --- the test kernel image, unpacked into the build tree
kernel_dir="$build_dir/test-kernel/$release"
mkdir -p "$kernel_dir"
if [ ! -f "$kernel_dir/vmlinuz" ]; then
  "$repo_root/scripts/fetch-kernel.sh" --release "$release" --dir "$kernel_dir" ||
    die "could not fetch linux-image-$release (network, or pin another ABI with --kernel-abi)"
fi

# The kernel modules stay where dpkg put them; the guest harness copies the few it needs.
[ -d "$kernel_dir/root/lib/modules/$release" ] ||
  die "$kernel_dir/root/lib/modules/$release is missing: delete $kernel_dir and run again"

# --- vmlinux (for module BTF and vmlinux.h): the xz stream inside the bzImage
if [ ! -f "$kernel_dir/vmlinux" ]; then
  log "extracting vmlinux"
  offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kernel_dir/vmlinuz" | head -n 1 | cut -d: -f1)
  [ -n "$offset" ] || die "no xz stream in $kernel_dir/vmlinuz: unexpected kernel compression"
  # xz stops with an error at the padding after the stream; the ELF check below decides.
  tail -c +"$((offset + 1))" "$kernel_dir/vmlinuz" | xz -dcq >"$kernel_dir/vmlinux.tmp" 2>/dev/null || true
  head -c 4 "$kernel_dir/vmlinux.tmp" | grep -q 'ELF' ||
    die "extracting vmlinux from $kernel_dir/vmlinuz failed"
  mv "$kernel_dir/vmlinux.tmp" "$kernel_dir/vmlinux"
fi

if [ ! -f "$kernel_dir/vmlinux.h" ]; then
  log "generating vmlinux.h from the test kernel's BTF"
  command -v bpftool >/dev/null || die "bpftool not found (package bpftool)"
  bpftool btf dump file "$kernel_dir/vmlinux" format c >"$kernel_dir/vmlinux.h.tmp"
  mv "$kernel_dir/vmlinux.h.tmp" "$kernel_dir/vmlinux.h"
fi

# --- the kernel's livepatch selftests and samples (vm.livepatch_selftests), cached
"$repo_root/scripts/fetch-livepatch-selftests.sh" --release "$release" >/dev/null ||
  die "could not fetch the livepatch selftests of $release (see above)"

# kpatch's create-diff-object and create-klp-module for lpmon build --diff, in the cache.
"$repo_root/scripts/kpatch-tools.sh" >/dev/null || die "could not build kpatch's tools"

ln -sfn "$release" "$build_dir/test-kernel/current"
log "ready: $kernel_dir"
