# Test suites that cannot be registered (a prerequisite is missing) must not vanish silently.
# In CI (environment CI=true, as .ci/run has it) and with scripts/test.sh, the README's test
# command, a missing prerequisite stops the configure; elsewhere it is a warning.
# scripts/check-test-run.py then checks that every registered test ran and passed.
if("$ENV{CI}" STREQUAL "true")
  set(lpmon_require_default ON)
else()
  set(lpmon_require_default OFF)
endif()
option(LPMON_REQUIRE_ALL_TESTS
       "Fail the configure when a test suite's prerequisite is missing (default: ON when CI=true)"
       ${lpmon_require_default})

# lpmon_suite_unavailable(SUITE REASON): SUITE (a label, or a test name) is not registered.
function(lpmon_suite_unavailable suite reason)
  if(LPMON_REQUIRE_ALL_TESTS)
    message(FATAL_ERROR "test suite '${suite}' cannot be registered: ${reason}. Run "
                        "scripts/setup.sh (LPMON_REQUIRE_ALL_TESTS is on: CI=true or scripts/test.sh)")
  endif()
  message(WARNING "test suite '${suite}' is not registered: ${reason} (scripts/setup.sh)")
endfunction()
