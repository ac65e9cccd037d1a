# One place that says which kernel lpmon builds for and tests against.
#
#   LPMON_KERNEL_DIR     unpacked test kernel (vmlinuz, vmlinux, vmlinux.h, root/lib/modules)
#                        made by scripts/setup.sh; default <build>/test-kernel/current
#   LPMON_KERNEL_RELEASE uname -r of that kernel, read from the directory name
#   KDIR                 kernel build tree for modules (default: Debian headers of that release)
#   LPMON_VMLINUX_BTF    BTF that vmlinux.h is made from (default: the test kernel's vmlinux,
#                        else the running kernel's /sys/kernel/btf/vmlinux)

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

message(STATUS "lpmon target kernel: ${LPMON_KERNEL_RELEASE} (KDIR=${KDIR}, BTF=${LPMON_VMLINUX_BTF})")
