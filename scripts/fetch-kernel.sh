#!/usr/bin/env bash
# Exit codes: 0 ready, 1 failed, 2 usage, 3 apt knows no such package (nothing downloaded).
# Fetches a Debian kernel image package and unpacks it into DIR, never into /boot:
#   DIR/vmlinuz    the bootable image
#   DIR/root/      the package's files (modules under root/lib/modules/<release>/)
# The one implementation of "fetch and unpack a distro kernel": scripts/setup.sh calls it
# for the test kernel and `lpmon verify` for the kernel a patch was built for. Idempotent:
# a DIR that already has both is left alone and nothing is downloaded.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: fetch-kernel.sh --release REL [--package NAME] --dir DIR

  --release REL   uname -r of the kernel, e.g. 6.1.0-56-amd64
  --package NAME  the image package (default: linux-image-REL)
  --dir DIR       where to unpack (default: $XDG_CACHE_HOME/lpmon/kernels/REL)
EOF
}

release= package= dir=
while [ $# -gt 0 ]; do
  case "$1" in
  --release) release=$2; shift 2 ;;
  --package) package=$2; shift 2 ;;
  --dir) dir=$2; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) echo "fetch-kernel: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$release" ] || { usage >&2; exit 2; }
[ -n "$package" ] || package="linux-image-$release"
[ -n "$dir" ] || dir="${XDG_CACHE_HOME:-$HOME/.cache}/lpmon/kernels/$release"
dir=$(realpath -m "$dir")

log() { printf 'fetch-kernel: %s\n' "$*" >&2; }
die() { printf 'fetch-kernel: error: %s\n' "$*" >&2; exit 1; }

if [ -f "$dir/vmlinuz" ] && [ -d "$dir/root/lib/modules/$release" ]; then
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found: fetching $package needs Debian's apt"
if ! apt-cache show "$package" >/dev/null 2>&1; then
  echo "fetch-kernel: apt knows no package $package (not a Debian kernel, or stale package lists: apt-get update)" >&2
  exit 3
fi
mkdir -p "$dir"
download=$(mktemp -d "$dir/.download.XXXXXX")
trap 'rm -rf "$download"' EXIT

log "downloading $package"
# apt-get download needs no root, only package lists that know the package.
if ! (cd "$download" && apt-get download -q "$package" >"$download/apt.log" 2>&1); then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq >/dev/null 2>&1 || true
  fi
  (cd "$download" && apt-get download -q "$package" >"$download/apt.log" 2>&1) || {
    sed -n '1,5p' "$download/apt.log" >&2
    die "could not download $package from the Debian registry: is it still published? (run apt-get update, or give the kernel with --kernel and --modules)"
  }
fi
deb=$(ls "$download"/*.deb | head -n 1)
log "unpacking $(basename "$deb")"
rm -rf "$dir/root"
dpkg-deb -x "$deb" "$download/root"
image="$download/root/boot/vmlinuz-$release"
[ -f "$image" ] || die "$package has no boot/vmlinuz-$release: is it a kernel image package for $release?"
mv "$download/root" "$dir/root"
cp "$dir/root/boot/vmlinuz-$release" "$dir/vmlinuz.tmp"
mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
[ -d "$dir/root/lib/modules/$release" ] || die "$package has no lib/modules/$release"
log "ready: $dir"
