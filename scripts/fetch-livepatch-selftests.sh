#!/usr/bin/env bash
# Exit codes: 0 ready, 1 failed, 2 usage.
# Fetches the kernel's own livepatch selftests and samples for one Debian kernel release:
# the Debian version of linux-image-REL picks linux-source-X.Y of that same version, and
# only these members of its source tarball are unpacked:
#   lib/livepatch/                       test_klp_*.c (the selftests' modules)
#   samples/livepatch/                   livepatch-*.c (the samples)
#   tools/testing/selftests/livepatch/   the selftest scripts and functions.sh
# into CACHE/<debian-version>/ (CACHE: $XDG_CACHE_HOME/lpmon/livepatch-selftests). The 139 MB
# package is deleted once unpacked. Prints the directory. Idempotent: a directory that is
# complete is left alone and nothing is downloaded.
# (A full source tree for building patches is a different job: see lpmon build --diff.)
set -euo pipefail

usage() {
  cat <<'EOF'
usage: fetch-livepatch-selftests.sh --release REL [--cache DIR]

  --release REL  uname -r of the Debian kernel, e.g. 6.1.0-57-amd64
  --cache DIR    cache directory (default: $XDG_CACHE_HOME/lpmon/livepatch-selftests)
EOF
}

release='' cache=''
while [ $# -gt 0 ]; do
  case "$1" in
  --release) release=$2; shift 2 ;;
  --cache) cache=$2; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) echo "fetch-livepatch-selftests: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$release" ] || { usage >&2; exit 2; }
[ -n "$cache" ] || cache="${XDG_CACHE_HOME:-$HOME/.cache}/lpmon/livepatch-selftests"

log() { printf 'fetch-livepatch-selftests: %s\n' "$*" >&2; }
die() { printf 'fetch-livepatch-selftests: error: %s\n' "$*" >&2; exit 1; }

members=(lib/livepatch samples/livepatch tools/testing/selftests/livepatch)

# The image package's version is the source package's: 6.1.0-57-amd64 -> 6.1.192-3.
version=$( (apt-cache show "linux-image-$release" 2>/dev/null || true) | sed -n 's/^Version: //p' | head -n 1)
[ -n "$version" ] || die "apt knows no package linux-image-$release (not a Debian kernel, or stale package lists: apt-get update)"
case $version in
[0-9]*.[0-9]*.*) ;;
*) die "linux-image-$release has an unexpected version '$version'" ;;
esac
series=$(echo "$version" | cut -d. -f1,2)
package="linux-source-$series"
dir=$(realpath -m "$cache/$version")

if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found: fetching $package needs Debian's apt"
mkdir -p "$cache"
work=$(mktemp -d "$cache/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "downloading $package=$version (about 140 MB, once)"
(cd "$work" && apt-get download -q "$package=$version" >"$work/apt.log" 2>&1) || {
  sed -n '1,5p' "$work/apt.log" >&2
  die "could not download $package=$version from the Debian registry (network? apt-get update?)"
}
debs=("$work"/*.deb)
deb=${debs[0]}
[ -f "$deb" ] || die "apt-get download left no .deb in $work"
tarball="./usr/src/linux-source-$series.tar.xz"
wildcards=()
for m in "${members[@]}"; do wildcards+=("linux-source-$series/$m/*"); done
log "unpacking ${members[*]}"
mkdir -p "$work/tree"
# The tarball is read once, as a stream: only the members asked for are written.
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "$tarball" | xz -dc |
  tar -xf - -C "$work/tree" --wildcards "${wildcards[@]}" ||
  die "unpacking ${members[*]} from $(basename "$deb") failed"
for m in "${members[@]}"; do
  [ -d "$work/tree/linux-source-$series/$m" ] || die "$package=$version has no $m"
done
rm -rf "$dir"
mv "$work/tree/linux-source-$series" "$dir"
echo "$package=$version for $release" >"$dir/.complete"
log "ready: $dir"
echo "$dir"
