#!/usr/bin/env bash
# lpmon build --diff refuses, in the user's terms, with exit 6 and no module, every diff
# that cannot become a safe livepatch. The diffs (tests/build/diffs/) are against Debian's
# 6.1.190-1 source of 6.1.0-54-amd64 (prepared once in lpmon's cache).
# usage: diff_refusals.sh LPMON
set -uo pipefail
lpmon=$1
diffs=$(cd "$(dirname "$0")/diffs" && pwd)
release=6.1.0-54-amd64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

expect_refusal() {
  local name=$1 pattern=$2 out rc
  out=$("$lpmon" build --diff "$diffs/$name.patch" --kernel "$release" --name t \
    --output "$work/out-$name" 2>&1)
  rc=$?
  out=$(printf '%s\n' "$out" | grep -v "^lpmon build: $release: ")
  if [ $rc -eq 6 ] && printf '%s\n' "$out" | grep -qE -- "$pattern" &&
    printf '%s\n' "$out" | grep -q "no module was built" && [ ! -e "$work/out-$name" ]; then
    echo "ok: $name: $out"
    passed=$((passed + 1))
  else
    echo "FAIL: $name: exit $rc, output: $out (expected exit 6, /$pattern/, no output)"
    failed=$((failed + 1))
  fi
}

expect_refusal no-change "makes no functional change .* nothing to patch"
expect_refusal no-apply "does not apply exactly to the source of $release"
expect_refusal data-change "changes data \(timens_operations in .rodata\).*shadow variable"
expect_refusal struct-layout "changes the layout of struct mem_size_stats.*shadow variable"
expect_refusal init-code "fs/proc/cmdline.c: the diff changes __init/__exit code"
expect_refusal notrace "function check_tsc_unstable has no ftrace entry"
expect_refusal not-built "kernel/gcov/base.c is not built into vmlinux of $release"
# Headers: a change outside static inline functions, or an inline used in too many files.
expect_refusal header-struct "include/linux/time_namespace.h: the diff changes line 20 .*outside any static inline function"
expect_refusal header-many-users "changes include/linux/seq_file.h \\(seq_user_ns\\), used in 26 files \\(.*\\): more than 12 files"
expect_refusal jump-label-module "nft_do_chain.* uses a jump label keyed in a module \\(nft_(trace|counters)_enabled\\)"

# A release Debian never published: refused before anything is downloaded.
out=$("$lpmon" build --diff "$diffs/no-change.patch" --kernel 6.1.0-99-amd64 --name t --output "$work/u" 2>&1)
if [ $? -eq 6 ] && printf '%s\n' "$out" | grep -q "apt knows no linux-image-6.1.0-99-amd64" &&
  [ ! -e "$work/u" ]; then
  echo "ok: unknown release: $out"; passed=$((passed + 1))
else
  echo "FAIL: unknown release: $out"; failed=$((failed + 1))
fi

echo "diff refusals: $passed passed, $failed failed"
[ $failed -eq 0 ]
