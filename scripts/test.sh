#!/usr/bin/env bash
# Everything from a fresh Debian 12 machine to every test passing: set-up, build, then
# CTest over unit tests, benchmarks (short runs), lint, and the guest scenarios in the
# 6.1 test kernel. Extra arguments go to ctest (e.g. -L unit, -R vm.sample).
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
