#!/usr/bin/env bash
# Builds the Debian packages lpmon and lpmon-exporter (CPack, packaging/CMakeLists.txt) from
# a build tree: configures it if needed, builds the binaries and man pages, then packs.
# usage: scripts/build-debs.sh [--build-dir DIR] [--out DIR]   (default: build, build/debs)
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$repo_root/build
out=
while [ $# -gt 0 ]; do
  case "$1" in
  --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
  --out) out=$(realpath -m "$2"); shift 2 ;;
  -h | --help) sed -n '2,4p' "$0" | sed 's/^# //'; exit 0 ;;
  *) echo "build-debs: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
out=${out:-$build_dir/debs}
for tool in help2man dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "build-debs: $tool not found: run scripts/setup.sh" >&2; exit 1; }
done
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$repo_root" -B "$build_dir" -G Ninja >/dev/null
fi
cmake --build "$build_dir" --target lpmon lpmon-exporter man
mkdir -p "$out"
rm -f "$out"/*.deb
# CPack stages under $out/_CPack_Packages; only the .deb files are the result.
cpack --config "$build_dir/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1 ||
  { cat "$out/cpack.log" >&2; echo "build-debs: cpack failed (log above)" >&2; exit 1; }
rm -rf "$out/_CPack_Packages"
ls "$out"/*.deb
