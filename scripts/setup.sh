#!/usr/bin/env bash
# Installs what lpmon needs to build and test on a Debian 12 machine, and fetches the
# test kernels (Debian's own linux-image-<abi>-amd64 of each kernel line Debian 12 ships:
# 6.1, and 6.12 from bookworm-security) into the build tree. Idempotent: a second run
# installs nothing and downloads nothing.
#
# The images are unpacked with dpkg-deb -x into <build>/test-kernel/<release>/. Note that
# Debian's 6.12 headers package depends on its image, so installing
# linux-headers-6.12.*+deb12-amd64 also installs that image in /boot (--kernel-lines 6.1
# avoids it).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/setup.sh [--build-dir DIR] [--kernel-abi ABI]... [--no-packages]

  --build-dir DIR   build tree to unpack the test kernels into (default: build)
  --kernel-abi ABI  pin the set of test kernels, one ABI per option, the first one the
                    kernel BPF is compiled against: e.g. --kernel-abi 6.1.0-57
                    --kernel-abi 6.12.118+deb12 (env LPMON_KERNEL_ABI, space-separated).
                    Default: the ABI each kernel line's metapackage depends on today,
                    linux-headers-amd64 (6.1), linux-headers-6.12-amd64 (6.12)
  --kernel-lines L  the kernel lines to test when no ABI is pinned, comma-separated:
                    6.1,6.12 (default), 6.1 or 6.12 (env LPMON_KERNEL_LINES). 6.12 guests
                    need QEMU 10, which this script installs (docs/kernels.md)
  --no-packages     do not run apt-get; only fetch and unpack the test kernels
EOF
}

repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=build
read -ra kernel_abis <<<"${LPMON_KERNEL_ABI:-}"
pinned=()
kernel_line_list=${LPMON_KERNEL_LINES:-6.1,6.12}
install_packages=1
while [ $# -gt 0 ]; do
  case "$1" in
  --build-dir) build_dir=$2; shift 2 ;;
  --kernel-abi) pinned+=("$2"); shift 2 ;;
  --kernel-lines) kernel_line_list=$2; shift 2 ;;
  --no-packages) install_packages=0; shift ;;
  -h | --help) usage; exit 0 ;;
  *) echo "setup: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ ${#pinned[@]} -eq 0 ] || kernel_abis=("${pinned[@]}")
case "$build_dir" in /*) ;; *) build_dir="$repo_root/$build_dir" ;; esac

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Build, test and guest packages. The kernel headers are added below once the ABI is known.
packages=(
  build-essential cmake ninja-build pkg-config clang llvm clang-format clang-tidy git
  # libFuzzer's runtime for the fuzz targets (tests/fuzz)
  libclang-rt-14-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev dwarves
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libcurl4-openssl-dev libcap-dev
  prometheus-cpp-dev libcivetweb-dev libssl-dev prometheus openssl
  # bench.exporter_scrape: load generator, and the exporter it is compared against
  wrk prometheus-node-exporter
  # qemu-system-x86: QEMU 10, from bookworm-backports on Debian 12 (scripts/install-qemu.sh)
  busybox-static cpio xz-utils zstd kmod
  # vm.store_reboots: the guest's persistent store disk (mkfs.ext4; the boot unit's check uses
  # systemd-analyze, below)
  e2fsprogs
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
  # Debian packages (scripts/build-debs.sh, packaging.*): man pages from --help, lintian,
  # systemd-analyze verify of the packaged units, a clean Debian 12 root to install them in
  help2man lintian systemd mmdebstrap
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

# The kernel lines under test, each by the metapackage that follows its newest ABI.
kernel_lines=()
IFS=, read -ra wanted_lines <<<"$kernel_line_list"
for line in "${wanted_lines[@]}"; do
  case "$line" in
  6.1) kernel_lines+=(linux-headers-amd64) ;;
  6.12) kernel_lines+=(linux-headers-6.12-amd64) ;;
  *) die "unknown kernel line '$line' in --kernel-lines (known: 6.1, 6.12)" ;;
  esac
done

resolve_abi() {
  # A line's metapackage depends on exactly one linux-headers-<abi>-amd64.
  local meta=$1 dep
  dep=$(apt-cache depends "$meta" 2>/dev/null |
    sed -n 's/^ *Depends: linux-headers-\(.*\)-amd64$/\1/p' | head -n 1)
  if [ -z "$dep" ]; then
    apt_update_once
    dep=$(apt-cache depends "$meta" 2>/dev/null |
      sed -n 's/^ *Depends: linux-headers-\(.*\)-amd64$/\1/p' | head -n 1)
  fi
  [ -n "$dep" ] || die "cannot resolve a test kernel ABI: package $meta is unknown to apt (is bookworm-security in the apt sources? or pass --kernel-abi)"
  echo "$dep"
}

if [ "$install_packages" -eq 1 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 (bookworm)"
  install_missing "${packages[@]}"
  "$repo_root/scripts/install-qemu.sh" || die "could not install QEMU 10 (see above)"
fi

if [ ${#kernel_abis[@]} -eq 0 ]; then
  for meta in "${kernel_lines[@]}"; do kernel_abis+=("$(resolve_abi "$meta")"); done
fi

# setup_kernel ABI: headers installed, image unpacked, vmlinux and vmlinux.h extracted.
setup_kernel() {
  local release="$1-amd64"
  log "test kernel: $release"
  if [ "$install_packages" -eq 1 ]; then
    install_missing "linux-headers-$release"
  fi
  [ -d "/usr/src/linux-headers-$release" ] ||
    die "kernel headers /usr/src/linux-headers-$release are missing (package linux-headers-$release)"

  # --- the test kernel image, unpacked into the build tree
  local kernel_dir="$build_dir/test-kernel/$release"
  mkdir -p "$kernel_dir"
  if [ ! -f "$kernel_dir/vmlinuz" ]; then
    "$repo_root/scripts/fetch-kernel.sh" --release "$release" --dir "$kernel_dir" ||
      die "could not fetch linux-image-$release (network, or pin another ABI with --kernel-abi)"
  fi

  # The kernel modules stay where dpkg put them; the guest harness copies the few it needs.
  [ -d "$kernel_dir/root/lib/modules/$release" ] ||
    die "$kernel_dir/root/lib/modules/$release is missing: delete $kernel_dir and run again"

  # --- vmlinux (for module BTF and vmlinux.h): the compressed stream inside the bzImage,
  # xz on 6.1, zstd on 6.12.
  if [ ! -f "$kernel_dir/vmlinux" ]; then
    log "extracting vmlinux of $release"
    "$repo_root/scripts/extract-vmlinux.sh" "$kernel_dir/vmlinuz" "$kernel_dir/vmlinux.tmp" ||
      die "extracting vmlinux from $kernel_dir/vmlinuz failed: no xz or zstd stream holding an ELF file"
    mv "$kernel_dir/vmlinux.tmp" "$kernel_dir/vmlinux"
  fi

  if [ ! -f "$kernel_dir/vmlinux.h" ]; then
    log "generating vmlinux.h from the BTF of $release"
    command -v bpftool >/dev/null || die "bpftool not found (package bpftool)"
    bpftool btf dump file "$kernel_dir/vmlinux" format c >"$kernel_dir/vmlinux.h.tmp"
    mv "$kernel_dir/vmlinux.h.tmp" "$kernel_dir/vmlinux.h"
  fi
}

releases=()
for abi in "${kernel_abis[@]}"; do
  setup_kernel "$abi"
  releases+=("$abi-amd64")
done

# The set the build tests against (cmake/TestKernel.cmake reads it), and `current`: the first
# kernel, which the BPF programs are compiled against once for all of them (CO-RE).
printf '%s\n' "${releases[@]}" >"$build_dir/test-kernel/set.tmp"
mv "$build_dir/test-kernel/set.tmp" "$build_dir/test-kernel/set"
ln -sfn "${releases[0]}" "$build_dir/test-kernel/current"
log "ready: ${releases[*]} in $build_dir/test-kernel"

# --- the kernel's livepatch selftests and samples (vm.livepatch_selftests), cached
"$repo_root/scripts/fetch-livepatch-selftests.sh" --release "${releases[0]}" >/dev/null ||
  die "could not fetch the livepatch selftests of ${releases[0]} (see above)"

# kpatch's create-diff-object and create-klp-module for lpmon build --diff, in the cache.
"$repo_root/scripts/kpatch-tools.sh" >/dev/null || die "could not build kpatch's tools"

# --- a clean, minimal Debian 12 root (mmdebstrap, apt variant), cached: packaging.chroot
# installs lpmon's packages into a fresh copy of it with apt.
debian_root="$build_dir/debian-root/bookworm-apt.tar"
if [ ! -f "$debian_root" ]; then
  command -v mmdebstrap >/dev/null || die "mmdebstrap not found (package mmdebstrap)"
  log "creating a minimal Debian 12 root for the package test (mmdebstrap)"
  mkdir -p "$(dirname "$debian_root")"
  mirror=${LPMON_DEBIAN_MIRROR:-http://deb.debian.org}
  as_root mmdebstrap --quiet --variant=apt --mode=root --format=tar bookworm "$debian_root.tmp" \
    "deb $mirror/debian bookworm main" "deb $mirror/debian bookworm-updates main" \
    "deb $mirror/debian-security bookworm-security main" </dev/null ||
    die "mmdebstrap bookworm failed (the Debian registry must be reachable; LPMON_DEBIAN_MIRROR)"
  as_root chown "$(id -u):$(id -g)" "$debian_root.tmp"
  mv "$debian_root.tmp" "$debian_root"
fi
