#!/usr/bin/env bash
# Fails when a tracked C, C++ or BPF source is not clang-formatted (per-folder configs:
# user space Google-based, kmod/ and bpf/ in the kernel's style).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- '*.c' '*.h' '*.cpp' '*.hpp' '*.cc')
[ ${#files[@]} -gt 0 ] || { echo "check-format: no sources found" >&2; exit 1; }
clang-format --dry-run -Werror "${files[@]}"
echo "check-format: ${#files[@]} files clang-formatted"
