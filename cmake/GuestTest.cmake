# Guest (vm) tests: scenarios that run in Debian's 6.1 kernel under QEMU.
#
#   lpmon_vm_scenario(<name> <script> [TIMEOUT seconds] [SMP n] [DRIVER host-script])
#
# DRIVER runs on the host around the guest (e.g. a Prometheus scraping it): it takes
# run-guest.sh's arguments and calls run-guest.sh itself.
#
# registers CTest test vm.<name> (label vm) that boots the base initramfs (target
# vm_initramfs: busybox, lpmon's modules and binaries) plus <script>. See tests/vm/README.md.

set(LPMON_VM_DIR "${CMAKE_SOURCE_DIR}/tests/vm")
set(LPMON_VM_INITRAMFS "${CMAKE_BINARY_DIR}/vm/initramfs.cpio")
# Modules of the test kernel itself that every guest loads at boot: the NIC for scenarios
# that forward a port (run-guest.sh --forward).
set(LPMON_VM_KERNEL_MODULES e1000)

function(lpmon_vm_initramfs)
  get_property(kmods GLOBAL PROPERTY LPMON_KMODS)
  set(args)
  set(deps)
  foreach(ko IN LISTS kmods)
    list(APPEND args --kmod "${ko}")
    list(APPEND deps "${ko}")
  endforeach()
  foreach(bin_target IN ITEMS lpmon lpmon-exporter lpmon_bench_tasks)
    if(TARGET ${bin_target})
      list(APPEND args --bin "$<TARGET_FILE:${bin_target}>")
      list(APPEND deps ${bin_target})
    endif()
  endforeach()
  foreach(name IN LISTS LPMON_VM_KERNEL_MODULES)
    list(APPEND args --kernel-module "${name}")
  endforeach()
  add_custom_command(
    OUTPUT "${LPMON_VM_INITRAMFS}"
    COMMAND "${LPMON_VM_DIR}/mkinitramfs.sh" --out "${LPMON_VM_INITRAMFS}"
            --guest-dir "${LPMON_VM_DIR}/guest" --kernel-root "${LPMON_KERNEL_DIR}/root"
            --release "${LPMON_KERNEL_RELEASE}" ${args}
    DEPENDS ${deps} "${LPMON_VM_DIR}/mkinitramfs.sh" "${LPMON_VM_DIR}/guest/init"
            "${LPMON_VM_DIR}/guest/lib.sh"
    COMMENT "Guest initramfs"
    VERBATIM)
  add_custom_target(vm_initramfs ALL DEPENDS "${LPMON_VM_INITRAMFS}")
endfunction()

function(lpmon_vm_scenario name script)
  cmake_parse_arguments(ARG "" "TIMEOUT;SMP;DRIVER" "" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  if(NOT ARG_SMP)
    set(ARG_SMP 2)
  endif()
  get_filename_component(script_abs "${script}" ABSOLUTE)
  set(runner "${LPMON_VM_DIR}/run-guest.sh")
  if(ARG_DRIVER)
    get_filename_component(runner "${ARG_DRIVER}" ABSOLUTE)
  endif()
  add_test(NAME vm.${name}
           COMMAND "${runner}" --name ${name}
                   --kernel "${LPMON_KERNEL_DIR}/vmlinuz" --initramfs "${LPMON_VM_INITRAMFS}"
                   --scenario "${script_abs}" --out "${CMAKE_BINARY_DIR}/vm/${name}"
                   --timeout ${ARG_TIMEOUT} --smp ${ARG_SMP})
  math(EXPR ctest_timeout "${ARG_TIMEOUT} + 30")
  set_tests_properties(vm.${name} PROPERTIES LABELS vm
                       TIMEOUT ${ctest_timeout} RESOURCE_LOCK qemu_cpu)
  # A scenario that skips (the kernel lacks a feature) shows as skipped; where every test
  # must run (LPMON_REQUIRE_ALL_TESTS: CI), its exit code 77 is a failure like any other.
  if(NOT LPMON_REQUIRE_ALL_TESTS)
    set_tests_properties(vm.${name} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endfunction()
