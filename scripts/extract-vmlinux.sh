#!/usr/bin/env bash
# extract-vmlinux.sh BZIMAGE OUT: writes the ELF vmlinux inside a Debian bzImage, from the
# first stream of a known compression that unpacks to ELF (xz on 6.1, zstd on 6.12).
# Exit 1 when there is none.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: extract-vmlinux.sh BZIMAGE OUT" >&2; exit 2; }
image=$1 out=$2
for magic in '\xfd7zXZ\x00:xz' '\x28\xb5\x2f\xfd:zstd'; do
  tool=${magic##*:}
  command -v "$tool" >/dev/null || continue
  # grep | head: grep may die of SIGPIPE, so no pipefail here.
  offset=$(set +o pipefail; LC_ALL=C grep -obUaP "${magic%:*}" "$image" | head -n 1 | cut -d: -f1)
  [ -n "$offset" ] || continue
  # The decompressor stops with an error at the padding after the stream; the ELF check decides.
  tail -c +"$((offset + 1))" "$image" | "$tool" -dcq >"$out" 2>/dev/null || true
  head -c 4 "$out" | grep -q 'ELF' && exit 0
done
rm -f "$out"
exit 1
