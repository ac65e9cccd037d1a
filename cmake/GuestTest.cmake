# Guest (vm) tests: scenarios that run in Debian's own kernels under QEMU, once per test
# kernel (LPMON_TEST_KERNELS: 6.1 and 6.12, see cmake/TestKernel.cmake).
#
#   lpmon_vm_scenario(<name> <script> [TIMEOUT seconds] [SMP n] [DRIVER host-script]
#                     [LABELS label...] [ENVIRONMENT VAR=value...] [FIRST_KERNEL_ONLY])
#
# DRIVER runs on the host around the guest (e.g. a Prometheus scraping it): it takes
# run-guest.sh's arguments and calls run-guest.sh itself.
#
# registers one CTest test vm.<name>@<tag> per test kernel (e.g. vm.stall@6.1,
# vm.stall@6.12; labels vm, kernel-<tag> and LABELS) that boots that kernel with its base
# initramfs (target vm_initramfs: busybox, lpmon's modules built for that kernel and
# binaries) plus <script>. In ENVIRONMENT, @KO:<module>@ stands for the path of <module>
# built for the test's kernel. FIRST_KERNEL_ONLY: only the first kernel of the set (for
# scenarios whose fixtures exist for that release alone). See tests/vm/README.md.

set(LPMON_VM_DIR "${CMAKE_SOURCE_DIR}/tests/vm")
# Modules of the test kernel itself that every guest loads at boot: the NIC for scenarios
# that forward a port (run-guest.sh --forward).
set(LPMON_VM_KERNEL_MODULES e1000)
# Modules in every initramfs that only the scenarios needing them load: a virtio disk with
# ext4 (the patch store across reboots, vm.store_reboots), in load order.
set(LPMON_VM_KERNEL_MODULES_ON_DEMAND virtio_ring virtio virtio_pci_legacy_dev
    virtio_pci_modern_dev virtio_pci virtio_blk crc16 mbcache jbd2 crc32c_generic ext4)

# Guests boot exactly the releases lpmon's modules are built for (lpmon_kmod_kernels).
include(Kmod)

# QEMU 7.2's TCG (Debian 12's own) crashes 6.12 guests now and then with a stale int3
# (docs/kernels.md): say so here, not through a test that fails one run in a few.
function(lpmon_vm_check_qemu)
  find_program(LPMON_QEMU qemu-system-x86_64)
  set(newer_kernels ${LPMON_TEST_KERNEL_LIST})
  list(FILTER newer_kernels INCLUDE REGEX "^6[.](1[2-9]|[2-9][0-9])|^[7-9][.]")
  if(NOT LPMON_QEMU OR NOT newer_kernels)
    return()
  endif()
  execute_process(COMMAND "${LPMON_QEMU}" --version OUTPUT_VARIABLE out ERROR_QUIET)
  string(REGEX MATCH "version ([0-9]+)[.]" _ "${out}")
  if(CMAKE_MATCH_1 AND CMAKE_MATCH_1 LESS 10)
    message(WARNING "${LPMON_QEMU} is QEMU ${CMAKE_MATCH_1}: its TCG crashes guests of "
                    "${newer_kernels} now and then (docs/kernels.md). Run scripts/setup.sh, "
                    "which installs QEMU 10 (from bookworm-backports on Debian 12).")
  endif()
endfunction()
lpmon_vm_check_qemu()

# lpmon_vm_kernel(<release> <tag-var> <dir-var>): a guest kernel's tag and unpacked image.
function(lpmon_vm_kernel release tag_var dir_var)
  set(tag "${release}")
  set(dir "${LPMON_KERNEL_DIR}")
  if(LPMON_TEST_KERNEL_LIST)
    lpmon_test_kernel("${release}" TAG tag DIR dir)
  endif()
  set(${tag_var} "${tag}" PARENT_SCOPE)
  set(${dir_var} "${dir}" PARENT_SCOPE)
endfunction()

function(lpmon_vm_initramfs)
  set(common_args)
  set(common_deps)
  foreach(bin_target IN ITEMS lpmon lpmon-exporter lpmon_bench_tasks)
    if(TARGET ${bin_target})
      list(APPEND common_args --bin "$<TARGET_FILE:${bin_target}>")
      list(APPEND common_deps ${bin_target})
    endif()
  endforeach()
  foreach(name IN LISTS LPMON_VM_KERNEL_MODULES)
    list(APPEND common_args --kernel-module "${name}")
  endforeach()
  foreach(name IN LISTS LPMON_VM_KERNEL_MODULES_ON_DEMAND)
    list(APPEND common_args --kernel-module-on-demand "${name}")
  endforeach()
  set(outputs)
  lpmon_kmod_kernels(kernels)
  foreach(release IN LISTS kernels)
    lpmon_vm_kernel("${release}" tag kernel_dir)
    get_property(kmods GLOBAL PROPERTY LPMON_KMODS@${release})
    if(NOT kmods)
      get_property(kmods GLOBAL PROPERTY LPMON_KMODS)
    endif()
    set(args ${common_args})
    set(deps ${common_deps})
    foreach(ko IN LISTS kmods)
      list(APPEND args --kmod "${ko}")
      list(APPEND deps "${ko}")
    endforeach()
    set(initramfs "${CMAKE_BINARY_DIR}/vm/kernel-${tag}/initramfs.cpio")
    add_custom_command(
      OUTPUT "${initramfs}"
      COMMAND "${LPMON_VM_DIR}/mkinitramfs.sh" --out "${initramfs}"
              --guest-dir "${LPMON_VM_DIR}/guest" --kernel-root "${kernel_dir}/root"
              --release "${release}" ${args}
      DEPENDS ${deps} "${LPMON_VM_DIR}/mkinitramfs.sh" "${LPMON_VM_DIR}/guest/init"
              "${LPMON_VM_DIR}/guest/lib.sh"
      COMMENT "Guest initramfs for ${release}"
      VERBATIM)
    list(APPEND outputs "${initramfs}")
  endforeach()
  add_custom_target(vm_initramfs ALL DEPENDS ${outputs})
endfunction()

function(lpmon_vm_scenario name script)
  cmake_parse_arguments(ARG "FIRST_KERNEL_ONLY" "TIMEOUT;SMP;DRIVER" "LABELS;ENVIRONMENT" ${ARGN})
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
  math(EXPR ctest_timeout "${ARG_TIMEOUT} + 30")
  lpmon_kmod_kernels(kernels)
  if(ARG_FIRST_KERNEL_ONLY)
    list(GET kernels 0 kernels)
  endif()
  foreach(release IN LISTS kernels)
    lpmon_vm_kernel("${release}" tag kernel_dir)
    set(test vm.${name}@${tag})
    add_test(NAME ${test}
             COMMAND "${runner}" --name ${name}@${tag}
                     --kernel "${kernel_dir}/vmlinuz"
                     --initramfs "${CMAKE_BINARY_DIR}/vm/kernel-${tag}/initramfs.cpio"
                     --scenario "${script_abs}" --out "${CMAKE_BINARY_DIR}/vm/${name}@${tag}"
                     --timeout ${ARG_TIMEOUT} --smp ${ARG_SMP})
    set(env)
    foreach(var IN LISTS ARG_ENVIRONMENT)
      string(REGEX MATCHALL "@KO:[A-Za-z0-9_]+@" refs "${var}")
      foreach(ref IN LISTS refs)
        string(REGEX REPLACE "^@KO:(.*)@$" "\\1" module "${ref}")
        lpmon_kernel_ko(ko "${release}" ${module})
        string(REPLACE "${ref}" "${ko}" var "${var}")
      endforeach()
      list(APPEND env "${var}")
    endforeach()
    set(labels vm kernel-${tag} ${ARG_LABELS})
    set_tests_properties(${test} PROPERTIES LABELS "${labels}"
                         TIMEOUT ${ctest_timeout} RESOURCE_LOCK qemu_cpu)
    # A scenario that skips (the kernel lacks a feature) shows as skipped; where every test
    # must run (LPMON_REQUIRE_ALL_TESTS: CI), its exit code 77 is a failure like any other.
    if(NOT LPMON_REQUIRE_ALL_TESTS)
      set_tests_properties(${test} PROPERTIES SKIP_RETURN_CODE 77)
    endif()
    if(env)
      set_tests_properties(${test} PROPERTIES ENVIRONMENT "${env}")
    endif()
  endforeach()
endfunction()
