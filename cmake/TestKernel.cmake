# One place that says which kernel lpmon builds for and tests against.
#
#   LPMON_KERNEL_DIR     unpacked test kernel (vmlinuz, vmlinux, vmlinux.h, root/lib/modules)
#                        made by scripts/setup.sh; default <build>/test-kernel/current
#   LPMON_KERNEL_RELEASE uname -r of that kernel, read from the directory name
#   KDIR                 kernel build tree for modules (default: Debian headers of that release)
#   LPMON_VMLINUX_BTF    BTF that vmlinux.h is made from (default: the test kernel's vmlinux,
#                        else the running kernel's /sys/kernel/btf/vmlinux)
#   LPMON_TEST_KERNELS   releases the guest tests boot, the one above first; kernel modules are
#                        built for each, BPF once (default: <build>/test-kernel/set, written by
#                        scripts/setup.sh). lpmon_test_kernel() gives each one's tag and paths.

set(LPMON_KERNEL_DIR "${CMAKE_BINARY_DIR}/test-kernel/current"
    CACHE PATH "Unpacked test kernel made by scripts/setup.sh")

set(LPMON_KERNEL_RELEASE "" CACHE STRING "Release of the target kernel (default: from LPMON_KERNEL_DIR)")
if(NOT LPMON_KERNEL_RELEASE AND EXISTS "${LPMON_KERNEL_DIR}/vmlinuz")
  file(REAL_PATH "${LPMON_KERNEL_DIR}" _kernel_dir_real)
  get_filename_component(_release "${_kernel_dir_real}" NAME)
  set(LPMON_KERNEL_RELEASE "${_release}" CACHE STRING "" FORCE)
endif()

set(KDIR "" CACHE PATH "Kernel build tree for out-of-tree modules")
if(NOT KDIR AND LPMON_KERNEL_RELEASE)
  set(KDIR "/usr/src/linux-headers-${LPMON_KERNEL_RELEASE}" CACHE PATH "" FORCE)
endif()

set(LPMON_VMLINUX_BTF "" CACHE FILEPATH "vmlinux (or raw BTF) that vmlinux.h is generated from")
if(NOT LPMON_VMLINUX_BTF)
  if(EXISTS "${LPMON_KERNEL_DIR}/vmlinux")
    set(LPMON_VMLINUX_BTF "${LPMON_KERNEL_DIR}/vmlinux" CACHE FILEPATH "" FORCE)
  elseif(EXISTS "/sys/kernel/btf/vmlinux")
    set(LPMON_VMLINUX_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH "" FORCE)
  endif()
endif()

if(NOT LPMON_VMLINUX_BTF)
  message(FATAL_ERROR
    "No kernel BTF to build the BPF programs against: ${LPMON_KERNEL_DIR}/vmlinux is missing "
    "and the running kernel has no /sys/kernel/btf/vmlinux. Run scripts/setup.sh first, "
    "or pass -DLPMON_VMLINUX_BTF=<vmlinux with BTF>.")
endif()

if(EXISTS "${LPMON_KERNEL_DIR}/vmlinuz")
  set(LPMON_HAVE_TEST_KERNEL ON)
else()
  set(LPMON_HAVE_TEST_KERNEL OFF)
  message(WARNING "No test kernel in ${LPMON_KERNEL_DIR}: guest (vm) tests are not registered. "
                  "Run scripts/setup.sh to fetch it.")
endif()

# --- the set of test kernels (the one above and the other kernel lines setup fetched)
set(_kernel_set_file "${CMAKE_BINARY_DIR}/test-kernel/set")
set(LPMON_TEST_KERNELS "" CACHE STRING "Releases the guest tests boot (default: test-kernel/set)")
set(_kernels ${LPMON_TEST_KERNELS})
if(NOT _kernels AND EXISTS "${_kernel_set_file}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_kernel_set_file}")
  file(STRINGS "${_kernel_set_file}" _kernels)
endif()
if(LPMON_KERNEL_RELEASE)
  list(REMOVE_ITEM _kernels "${LPMON_KERNEL_RELEASE}")
  list(PREPEND _kernels "${LPMON_KERNEL_RELEASE}")
endif()
set(LPMON_TEST_KERNEL_LIST)
set(LPMON_TEST_KERNEL_TAGS)
foreach(_release IN LISTS _kernels)
  if(_release STREQUAL LPMON_KERNEL_RELEASE)
    set(_dir "${LPMON_KERNEL_DIR}")
    set(_kdir "${KDIR}")
  else()
    set(_dir "${CMAKE_BINARY_DIR}/test-kernel/${_release}")
    set(_kdir "/usr/src/linux-headers-${_release}")
    if(NOT EXISTS "${_dir}/vmlinuz" OR NOT EXISTS "${_dir}/vmlinux" OR NOT EXISTS "${_kdir}/Makefile")
      message(WARNING "Test kernel ${_release} is incomplete (${_dir}, ${_kdir}): its guest tests "
                      "are not registered. Run scripts/setup.sh.")
      continue()
    endif()
  endif()
  # The tag names the kernel line in test names (vm.stall@6.12): major.minor, or the whole
  # release when the set holds two releases of one line.
  string(REGEX MATCH "^[0-9]+[.][0-9]+" _tag "${_release}")
  if(NOT _tag OR _tag IN_LIST LPMON_TEST_KERNEL_TAGS)
    set(_tag "${_release}")
  endif()
  list(APPEND LPMON_TEST_KERNEL_LIST "${_release}")
  list(APPEND LPMON_TEST_KERNEL_TAGS "${_tag}")
  set_property(GLOBAL PROPERTY LPMON_TEST_KERNEL_TAG@${_release} "${_tag}")
  set_property(GLOBAL PROPERTY LPMON_TEST_KERNEL_DIR@${_release} "${_dir}")
  set_property(GLOBAL PROPERTY LPMON_TEST_KERNEL_KDIR@${_release} "${_kdir}")
endforeach()

# lpmon_test_kernel(<release> TAG <var> DIR <var> KDIR <var> SUFFIX <var>): a test kernel's
# tag (6.12), unpacked image, module build tree, and the suffix its build products carry
# (empty for the first kernel, whose targets and paths stay as they were: -6.12 otherwise).
function(lpmon_test_kernel release)
  cmake_parse_arguments(ARG "" "TAG;DIR;KDIR;SUFFIX" "" ${ARGN})
  get_property(tag GLOBAL PROPERTY LPMON_TEST_KERNEL_TAG@${release})
  foreach(what IN ITEMS TAG DIR KDIR)
    if(ARG_${what})
      get_property(value GLOBAL PROPERTY LPMON_TEST_KERNEL_${what}@${release})
      set(${ARG_${what}} "${value}" PARENT_SCOPE)
    endif()
  endforeach()
  if(ARG_SUFFIX)
    if(release STREQUAL LPMON_KERNEL_RELEASE)
      set(${ARG_SUFFIX} "" PARENT_SCOPE)
    else()
      set(${ARG_SUFFIX} "-${tag}" PARENT_SCOPE)
    endif()
  endif()
endfunction()

message(STATUS "lpmon test kernels: ${LPMON_TEST_KERNEL_LIST} (${LPMON_TEST_KERNEL_TAGS})")
message(STATUS "lpmon target kernel: ${LPMON_KERNEL_RELEASE} (KDIR=${KDIR}, BTF=${LPMON_VMLINUX_BTF})")
