#!/usr/bin/env bash
# Everything from a fresh Debian 12 machine to every test passing: set-up, build, then
# CTest over unit tests, benchmarks (short runs), lint, and the guest scenarios in each test
# kernel, 6.1 and 6.12 (vm.NAME@6.1, vm.NAME@6.12; CTest's label summary gives the time per
# kernel-<line> label). Extra arguments go to ctest (e.g. -L unit, -R vm.sample, -L kernel-6.12).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
timed() {
  local what=$1 start
  shift
  start=$(date +%s)
  "$@"
  echo "== $what took $(($(date +%s) - start)) s"
}

step "set-up (packages and the test kernel)"
timed set-up scripts/setup.sh
step "build"
timed configure cmake --preset default >/dev/null
timed build cmake --build --preset default
step "tests"
timed tests ctest --preset default "$@"
