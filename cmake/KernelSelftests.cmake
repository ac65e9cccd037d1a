# The kernel's own livepatch selftests and samples, as a guest scenario.
#
#   lpmon_livepatch_selftests(<name> <scenario> [TIMEOUT seconds])
#
# (one scenario or several: the sources are fetched and the modules built once)
#
# scripts/fetch-livepatch-selftests.sh gives the sources of Debian's linux-source matching the
# test kernel (cached outside the build tree, fetched once); their test_klp_* and livepatch-*
# modules are built here out of tree against KDIR (target kselftest_livepatch_modules), and
# vm.<name> boots them through the host driver tests/vm/kselftest/livepatch_selftests.sh.
# Without the sources (no network at the first configure) the test is still registered and
# fails, saying why: a suite never vanishes silently.

# Fetches the sources and defines the module build once; sets LPMON_KSELFTEST_SRC (empty, with
# LPMON_KSELFTEST_ERROR, when the sources cannot be had) and LPMON_KSELFTEST_MODULES.
function(_lpmon_livepatch_selftest_modules)
  get_property(done GLOBAL PROPERTY LPMON_KSELFTEST_DONE)
  if(NOT done)
    set_property(GLOBAL PROPERTY LPMON_KSELFTEST_DONE ON)
    execute_process(
      COMMAND "${CMAKE_SOURCE_DIR}/scripts/fetch-livepatch-selftests.sh"
              --release "${LPMON_KERNEL_RELEASE}"
      OUTPUT_VARIABLE src ERROR_VARIABLE fetch_err RESULT_VARIABLE fetch_rc
      OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(fetch_rc EQUAL 0)
      _lpmon_livepatch_selftest_build("${src}")
    else()
      string(STRIP "${fetch_err}" fetch_err)
      message(WARNING "the livepatch selftest scenarios will fail: ${fetch_err}")
      set(src "")
      set_property(GLOBAL PROPERTY LPMON_KSELFTEST_ERROR "${fetch_err}")
    endif()
    set_property(GLOBAL PROPERTY LPMON_KSELFTEST_SRC "${src}")
  endif()
  get_property(src GLOBAL PROPERTY LPMON_KSELFTEST_SRC)
  get_property(err GLOBAL PROPERTY LPMON_KSELFTEST_ERROR)
  set(LPMON_KSELFTEST_SRC "${src}" PARENT_SCOPE)
  set(LPMON_KSELFTEST_ERROR "${err}" PARENT_SCOPE)
  set(LPMON_KSELFTEST_MODULES "${CMAKE_BINARY_DIR}/kselftest/livepatch" PARENT_SCOPE)
endfunction()

function(_lpmon_livepatch_selftest_build src)
  file(GLOB sources "${src}/lib/livepatch/test_klp_*.c" "${src}/samples/livepatch/livepatch-*.c")
  list(SORT sources)
  set(dir "${CMAKE_BINARY_DIR}/kselftest/livepatch")
  set(kos)
  set(objs)
  set(copies)
  foreach(c IN LISTS sources)
    get_filename_component(stem "${c}" NAME_WE)
    list(APPEND objs "${stem}.o")
    list(APPEND kos "${dir}/${stem}.ko")
    list(APPEND copies COMMAND ${CMAKE_COMMAND} -E copy_if_different "${c}" "${dir}/")
  endforeach()
  list(JOIN objs " " objs_joined)
  file(MAKE_DIRECTORY "${dir}")
  file(WRITE "${dir}/Kbuild.new" "obj-m := ${objs_joined}\n")
  configure_file("${dir}/Kbuild.new" "${dir}/Kbuild" COPYONLY)
  add_custom_command(
    OUTPUT ${kos}
    ${copies}
    COMMAND make -s -C "${KDIR}" "M=${dir}" modules
    DEPENDS ${sources} "${dir}/Kbuild"
    WORKING_DIRECTORY "${dir}"
    COMMENT "The kernel's livepatch selftest and sample modules (KDIR=${KDIR})"
    VERBATIM)
  add_custom_target(kselftest_livepatch_modules ALL DEPENDS ${kos})
endfunction()

function(lpmon_livepatch_selftests name scenario)
  cmake_parse_arguments(ARG "" "TIMEOUT" "" ${ARGN})
  _lpmon_livepatch_selftest_modules()
  if(NOT LPMON_KSELFTEST_SRC)
    add_test(NAME vm.${name} COMMAND sh -c "echo \"$0\" >&2; exit 1"
             "vm.${name}: no livepatch selftest sources: ${LPMON_KSELFTEST_ERROR} (run scripts/setup.sh)")
    set_tests_properties(vm.${name} PROPERTIES LABELS vm)
    return()
  endif()
  # The selftest modules are built for the first test kernel (KDIR) alone.
  lpmon_vm_scenario(${name} ${scenario} TIMEOUT ${ARG_TIMEOUT} FIRST_KERNEL_ONLY
                    DRIVER "${LPMON_VM_DIR}/kselftest/livepatch_selftests.sh"
                    ENVIRONMENT "LPMON_KSELFTEST_MODULES=${LPMON_KSELFTEST_MODULES}"
                    "LPMON_KSELFTEST_SCRIPTS=${LPMON_KSELFTEST_SRC}/tools/testing/selftests/livepatch"
                    "LPMON_KERNEL_RELEASE=${LPMON_KERNEL_RELEASE}")
endfunction()
