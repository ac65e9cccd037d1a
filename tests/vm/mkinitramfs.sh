#!/usr/bin/env bash
# Builds the base initramfs (an uncompressed newc cpio) that every guest scenario boots:
# busybox-static, the guest /init and its helper library, lpmon's kernel modules, lpmon's
# binaries with the shared libraries ldd names, and chosen modules of the test kernel.
# A scenario is appended later as a second cpio (the kernel unpacks concatenated archives).
set -euo pipefail

usage() {
  cat <<'EOF2'
usage: mkinitramfs.sh --out FILE --guest-dir DIR --kernel-root DIR --release REL
                      [--kmod FILE.ko]... [--bin FILE]... [--kernel-module NAME]...
                      [--kernel-module-on-demand NAME]... [--modules-dir DIR]

  --kernel-module-on-demand  put a module of the kernel into /lib/modules/REL without
             loading it at boot; a scenario that needs it (e.g. a virtio disk) loads it
  --modules-dir DIR  the kernel's modules (default: KERNEL-ROOT/lib/modules/REL)
EOF2
}

out= guest_dir= kernel_root= release= moddir=
kmods=() bins=() kernel_modules=() on_demand=()
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=$2; shift 2 ;;
  --guest-dir) guest_dir=$2; shift 2 ;;
  --kernel-root) kernel_root=$2; shift 2 ;;
  --release) release=$2; shift 2 ;;
  --kmod) kmods+=("$2"); shift 2 ;;
  --bin) bins+=("$2"); shift 2 ;;
  --kernel-module) kernel_modules+=("$2"); shift 2 ;;
  --kernel-module-on-demand) on_demand+=("$2"); shift 2 ;;
  --modules-dir) moddir=$2; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) echo "mkinitramfs: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$moddir" ] || [ -z "$kernel_root" ] || moddir="$kernel_root/lib/modules/$release"
[ -n "$out" ] && [ -n "$guest_dir" ] && [ -n "$moddir" ] && [ -n "$release" ] || {
  usage >&2
  exit 2
}

busybox=/bin/busybox
[ -x "$busybox" ] && file_is_static=$(ldd "$busybox" 2>&1 | grep -c 'not a dynamic') || true
[ "${file_is_static:-0}" -ge 1 ] || { echo "mkinitramfs: $busybox is not busybox-static (package busybox-static)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,out,etc,lib/lpmon,lpmon/kmod}
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$stage/bin/$applet" ] || ln -s busybox "$stage/bin/$applet"
done
install -m 0755 "$guest_dir/init" "$stage/init"
install -m 0644 "$guest_dir/lib.sh" "$stage/lib/lpmon/lib.sh"
echo "$release" >"$stage/etc/lpmon-release"

for ko in "${kmods[@]}"; do
  install -m 0644 "$ko" "$stage/lpmon/kmod/"
done

# Copy a file and keep its path, so ldd's absolute paths and the loader's own work as-is.
copy_keep_path() {
  local src=$1
  mkdir -p "$stage/$(dirname "$src")"
  cp -L "$src" "$stage/$src"
}
for bin in "${bins[@]}"; do
  install -m 0755 "$bin" "$stage/usr/bin/"
  while read -r lib; do
    [ -n "$lib" ] && [ ! -e "$stage/$lib" ] && copy_keep_path "$lib"
  done < <(ldd "$bin" | grep -o '/[^ ]*' || true)
done

# Modules of the test kernel itself (e.g. virtio_net), decompressed for busybox insmod.
for name in "${kernel_modules[@]}"; do
  src=$(find "$moddir" -name "$name.ko" -o -name "$name.ko.xz" | head -n 1)
  [ -n "$src" ] || { echo "mkinitramfs: kernel module $name not found under $moddir" >&2; exit 1; }
  mkdir -p "$stage/lib/modules/$release"
  case "$src" in
  *.xz) xz -dc "$src" >"$stage/lib/modules/$release/$name.ko" ;;
  *) cp "$src" "$stage/lib/modules/$release/$name.ko" ;;
  esac
  echo "$name" >>"$stage/lib/modules/$release/load-order"
done

# Modules a scenario loads itself. One a kernel lacks (built in, or renamed) is left out:
# the scenario that needs it says so.
for name in "${on_demand[@]}"; do
  src=$(find "$moddir" -name "$name.ko" -o -name "$name.ko.xz" | head -n 1)
  [ -n "$src" ] || { echo "mkinitramfs: note: kernel module $name not found under $moddir" >&2; continue; }
  mkdir -p "$stage/lib/modules/$release"
  case "$src" in
  *.xz) xz -dc "$src" >"$stage/lib/modules/$release/$name.ko" ;;
  *) cp "$src" "$stage/lib/modules/$release/$name.ko" ;;
  esac
done

# The console device must exist before devtmpfs is mounted, for /init's first output.
(cd "$stage" && mknod -m 600 dev/console c 5 1 2>/dev/null || true)
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
