#!/usr/bin/env bash
# Builds kpatch's object differ (create-diff-object) and klp converter (create-klp-module)
# from Debian's kpatch source, into a cache outside the repository. lpmon build --diff runs
# them; they are a dependency, never part of lpmon. Prints the tools directory.
#
# bookworm has no kpatch package and trixie's needs trixie's libelf, but the registry serves
# the upstream tarball of trixie's source package: a private apt configuration with a
# deb-src entry fetches it without touching the machine's own sources or lists.
# Idempotent: a directory that has both tools is reused and nothing is downloaded.
set -euo pipefail

cache=${XDG_CACHE_HOME:-$HOME/.cache}/lpmon
suite=${LPMON_KPATCH_SUITE:-trixie}
log() { printf 'kpatch-tools: %s\n' "$*" >&2; }
die() { printf 'kpatch-tools: error: %s\n' "$*" >&2; exit 1; }

for dir in "$cache"/tools/kpatch-*; do
  if [ -x "$dir/create-diff-object" ] && [ -x "$dir/create-klp-module" ]; then
    echo "$dir"
    exit 0
  fi
done

apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$cache/tools"
echo "deb-src http://deb.debian.org/debian $suite main" >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists" -o "APT::Sandbox::User=root")
log "reading $suite's source index (private apt configuration in $apt_dir)"
apt-get -qq "${apt_opts[@]}" update >/dev/null 2>&1 ||
  die "apt-get update of $suite's deb-src failed: is deb.debian.org reachable?"
work=$(mktemp -d "$cache/tools/.kpatch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The .dsc is not always served; the upstream tarball is what we need.
(cd "$work" && apt-get -qq "${apt_opts[@]}" source --download-only kpatch >apt.log 2>&1) || true
tarball=$(ls "$work"/kpatch_*.orig.tar.* 2>/dev/null | head -n 1)
[ -n "$tarball" ] || { tail -n 5 "$work/apt.log" >&2; die "no kpatch upstream tarball from $suite"; }
version=$(basename "$tarball" | sed 's/^kpatch_\(.*\)\.orig\.tar\..*$/\1/')
log "building create-diff-object and create-klp-module from kpatch $version"
tar -xf "$tarball" -C "$work"
make -s -C "$work"/kpatch-*/kpatch-build create-diff-object create-klp-module >"$work/make.log" 2>&1 ||
  { tail -n 20 "$work/make.log" >&2; die "building kpatch's tools failed (needs libelf-dev)"; }
dest="$cache/tools/kpatch-$version"
mkdir -p "$dest.tmp"
cp "$work"/kpatch-*/kpatch-build/create-diff-object "$work"/kpatch-*/kpatch-build/create-klp-module "$dest.tmp/"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "$dest"
