#!/usr/bin/env bash
# Prepares, once per kernel release, what lpmon build --diff compiles against:
#   DIR/linux/     the exact Debian source of the release, configured with the release's
#                  .config and Module.symvers (from linux-headers-REL) and `make prepare`d
#   DIR/kernel/    the release's image package (System.map, modules) via fetch-kernel.sh
#   DIR/vmlinux    the image's vmlinux (its BTF gives create-diff-object's struct sizes)
#   DIR/vmlinux-dbg the release's unstripped vmlinux (linux-image-REL-dbg): its symbol table
#                  locates static functions for klp, and its code is what objects built here
#                  must reproduce. Debian's System.map is a placeholder, hence the -dbg package.
# Prints DIR (default $XDG_CACHE_HOME/lpmon/src/REL). Exit codes: 0 ready, 1 failed,
# 2 usage, 3 the release's source or compiler is not available (nothing prepared).
set -euo pipefail

usage() { echo "usage: kernel-source.sh --release REL [--dir DIR]" >&2; }
release= dir=
while [ $# -gt 0 ]; do
  case "$1" in
  --release) release=$2; shift 2 ;;
  --dir) dir=$2; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage; exit 2 ;;
  esac
done
[ -n "$release" ] || { usage; exit 2; }
case "$release" in *[!A-Za-z0-9._+-]*) echo "kernel-source: bad release '$release'" >&2; exit 2 ;; esac
cache=${XDG_CACHE_HOME:-$HOME/.cache}/lpmon
[ -n "$dir" ] || dir="$cache/src/$release"
here=$(cd "$(dirname "$0")" && pwd)
log() { printf 'kernel-source: %s\n' "$*" >&2; }
die() { printf 'kernel-source: error: %s\n' "$*" >&2; exit 1; }
refuse() { printf 'kernel-source: %s\n' "$*" >&2; exit 3; }

if [ -f "$dir/.prepared" ]; then echo "$dir"; exit 0; fi

# The image package's Version is the Debian source version the release was built from.
debver=$(apt-cache show "linux-image-$release" 2>/dev/null | sed -n "s/^Version: //p" | head -n 1 || true)
[ -n "$debver" ] || refuse "apt knows no linux-image-$release: not a Debian kernel release, or stale package lists (apt-get update)"
line=$(echo "$debver" | sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p')
srcpkg="linux-source-$line"
apt-cache madison "$srcpkg" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qx "$debver" ||
  refuse "$srcpkg version $debver (the source of $release) is no longer published: cannot build fixes for $release"

mkdir -p "$dir"
work=$(mktemp -d "$dir/.prepare.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "downloading $srcpkg=$debver and linux-headers-$release"
(cd "$work" && apt-get download -q "$srcpkg=$debver" "linux-headers-$release" >apt.log 2>&1) ||
  { tail -n 5 "$work/apt.log" >&2; die "could not download $srcpkg=$debver / linux-headers-$release"; }

dpkg-deb -x "$work"/linux-headers-"$release"_*.deb "$work/headers"
hdr="$work/headers/usr/src/linux-headers-$release"
[ -f "$hdr/.config" ] && [ -f "$hdr/Module.symvers" ] || die "linux-headers-$release has no .config or Module.symvers"
cc_text=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' "$hdr/.config")
cc=${cc_text%% *}
command -v "$cc" >/dev/null || refuse "$release was built with '$cc_text' and $cc is not installed (apt-get install $cc)"
have=$("$cc" --version | head -n 1)
[ "$have" = "$cc_text" ] || refuse "$release was built with '$cc_text' but $cc here is '$have': objects would not match the kernel"

# The 860 MB -dbg package downloads and unpacks while the source is prepared.
(
  cd "$work" && apt-get download -q "linux-image-$release-dbg=$debver" >dbg.log 2>&1 &&
    dpkg-deb --fsys-tarfile linux-image-"$release"-dbg_*.deb |
    tar -xO "./usr/lib/debug/boot/vmlinux-$release" >"$work/vmlinux-dbg" &&
    rm -f linux-image-"$release"-dbg_*.deb
) &
dbg_job=$!

log "unpacking $srcpkg $debver"
dpkg-deb --fsys-tarfile "$work"/"$srcpkg"_*.deb | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
  xz -dc -T2 | tar -x -C "$work"
rm -f "$work"/linux-source-*.deb "$work"/linux-headers-*.deb
mv "$work"/linux-source-* "$work/linux"
cp "$hdr/.config" "$hdr/Module.symvers" "$work/linux/"
log "make olddefconfig modules_prepare ($cc)"
make -s -C "$work/linux" CC="$cc" KERNELRELEASE="$release" olddefconfig modules_prepare -j"$(nproc)" >"$work/prepare.log" 2>&1 ||
  { tail -n 20 "$work/prepare.log" >&2; die "make prepare of $release failed"; }
echo "$cc" >"$work/linux/.lpmon-cc"

"$here/fetch-kernel.sh" --release "$release" --dir "$work/kernel" >&2 ||
  die "could not fetch linux-image-$release"
"$here/extract-vmlinux.sh" "$work/kernel/vmlinuz" "$work/vmlinux" ||
  die "extracting vmlinux of $release failed: no xz or zstd stream holding an ELF file"

log "waiting for linux-image-$release-dbg"
wait "$dbg_job" || { tail -n 5 "$work/dbg.log" >&2; die "could not fetch linux-image-$release-dbg=$debver (the unstripped vmlinux)"; }
head -c 4 "$work/vmlinux-dbg" | grep -q ELF || die "linux-image-$release-dbg has no usr/lib/debug/boot/vmlinux-$release"

rm -rf "$dir/linux" "$dir/kernel" "$dir/vmlinux" "$dir/vmlinux-dbg"
mv "$work/linux" "$work/kernel" "$work/vmlinux" "$work/vmlinux-dbg" "$dir/"
echo "$debver" >"$dir/.prepared"
log "ready: $dir"
echo "$dir"
