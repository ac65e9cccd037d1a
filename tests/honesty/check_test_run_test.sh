#!/usr/bin/env bash
# scripts/check-test-run.py on real CTest output: a throwaway CTest project whose tests pass,
# skip (exit 77, GTEST_SKIP's "[  SKIPPED ]"), or are filtered out of the run. The check must
# pass only when every registered test ran and passed, and fail on a label with no test.
# usage: check_test_run_test.sh CHECK_TEST_RUN_PY
set -euo pipefail
check=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failed=1; }

# project DIR TESTS...: a CTest project with tests NAME:LABEL:COMMAND
project() {
  local dir=$1 spec name label cmd
  shift
  mkdir -p "$dir"
  {
    echo 'cmake_minimum_required(VERSION 3.25)'
    echo 'project(t NONE)'
    echo 'enable_testing()'
    for spec in "$@"; do
      IFS=: read -r name label cmd <<<"$spec"
      echo "add_test(NAME $name COMMAND sh -c \"$cmd\")"
      echo "set_tests_properties($name PROPERTIES LABELS $label SKIP_RETURN_CODE 77"
      echo "  SKIP_REGULAR_EXPRESSION \"\\\\[  SKIPPED \\\\]\")"
    done
  } >"$dir/CMakeLists.txt"
  cmake -S "$dir" -B "$dir/b" >/dev/null
}
# run DIR [CTEST-ARGS...]: ctest's report and the registered list, then the check's exit code
run() {
  local dir=$1
  shift
  (cd "$dir/b" && ctest --output-junit "$dir/junit.xml" "$@" >/dev/null 2>&1) || true
  (cd "$dir/b" && ctest --show-only=json-v1) >"$dir/registered.json"
  "$check" --registered "$dir/registered.json" --junit "$dir/junit.xml" \
    --expect-labels "${EXPECT:-unit}" >"$dir/check.txt" 2>&1
}

project "$work/pass" "a:unit:true" "b:unit:echo fine"
if run "$work/pass"; then ok "all passed: the check passes"; else bad "all passed, check failed: $(cat "$work/pass/check.txt")"; fi

project "$work/skip77" "a:unit:true" "b:unit:exit 77"
if run "$work/skip77"; then bad "a test exiting 77 (skip) passed the check"; else ok "a skipped guest scenario fails the check"; fi
grep -q "b: skipped" "$work/skip77/check.txt" || bad "the check does not name the skipped test"

project "$work/gskip" "a:unit:true" "g:unit:echo '[  SKIPPED ] x'"
if run "$work/gskip"; then bad "a GTEST_SKIP passed the check"; else ok "a GTEST_SKIP fails the check"; fi

project "$work/missing" "a:unit:true" "m:unit:true"
if run "$work/missing" -E '^m$'; then bad "a registered test that never ran passed the check"; else ok "a test that did not run fails the check"; fi
grep -q "m: missing" "$work/missing/check.txt" || bad "the check does not name the missing test"

project "$work/vanished" "a:unit:true"
if EXPECT=unit,vm run "$work/vanished"; then bad "a label with no test passed the check"; else ok "a vanished suite (label vm) fails the check"; fi

project "$work/failing" "a:unit:false"
if run "$work/failing"; then bad "a failing test passed the check"; else ok "a failing test fails the check"; fi
exit "$failed"
