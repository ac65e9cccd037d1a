#!/usr/bin/env bash
# The libFuzzer targets for a bounded time each, as CI runs them (tests/CMakeLists.txt):
#   run-fuzzers.sh build FUZZ_DIR KERNEL_DIR SEED...   configure and build the clang tree
#   run-fuzzers.sh run FUZZ_DIR TARGET CORPUS SECONDS   fuzz TARGET from CORPUS (kept in the
#                                                       repository) for SECONDS
# The fuzz tree is its own build (clang, ASan, UBSan, libFuzzer); the main tree stays gcc.
# A crash, a leak or a sanitizer report fails the run and leaves the input in FUZZ_DIR/crashes.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
mode=$1 dir=$2
shift 2
case $mode in
build)
  kernel_dir=$1
  shift
  abs=()
  for seed in "$@"; do abs+=("$(realpath "$seed")"); done
  seeds=$(IFS=';'; echo "${abs[*]}")
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  command -v clang++ >/dev/null || { echo "run-fuzzers: clang++ is missing (package clang)"; exit 1; }
  cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLPMON_FUZZ=ON -DLPMON_BUILD_KMOD=OFF \
    -DLPMON_REQUIRE_ALL_TESTS=OFF -DLPMON_KERNEL_DIR="$kernel_dir" -DLPMON_FUZZ_SEEDS="$seeds" \
    "${launcher[@]}" >"$dir.configure.log" 2>&1 ||
    { tail -n 30 "$dir.configure.log"; echo "run-fuzzers: configuring the fuzz tree failed"; exit 1; }
  cmake --build "$dir" --target lpmon_fuzz_module_inspector fuzz_corpus lpmon_fuzz_gate_parser
  ;;
run)
  target=$1 corpus=$2 seconds=$3
  binary=$(find "$dir/tests" -type f -name "$target" -perm -u+x | head -n 1)
  [ -n "$binary" ] || { echo "run-fuzzers: $target is not built in $dir"; exit 1; }
  [ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || { echo "run-fuzzers: no corpus in $corpus"; exit 1; }
  # libFuzzer adds what it finds to the first directory: a scratch one, so that the
  # repository's corpus (and the seeds) stay as they are.
  work="$dir/work/$target"
  rm -rf "$work"
  mkdir -p "$work/new" "$dir/crashes"
  extra=()
  [ -d "$dir/tests/fuzz/corpus" ] && [ "$target" = lpmon_fuzz_module_inspector ] &&
    extra=("$dir/tests/fuzz/corpus")
  echo "fuzzing $target for $seconds s from $corpus ${extra[*]}"
  "$binary" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/crashes/$target-" "$work/new" "$corpus" "${extra[@]}"
  ;;
*)
  echo "usage: run-fuzzers.sh build FUZZ_DIR KERNEL_DIR SEED... | run FUZZ_DIR TARGET CORPUS SECONDS" >&2
  exit 2
  ;;
esac
