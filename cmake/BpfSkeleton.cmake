# lpmon_bpf_skeleton(<name>)
#
# Compiles bpf/<name>.bpf.c with clang -target bpf against the target kernel's vmlinux.h,
# links it with bpftool (which also drops DWARF the skeleton does not need) and generates
# <name>.skel.h. The skeleton embeds the object, so binaries never load BPF from a path.
# Adds the generated header to the interface library lpmon_bpf_skeletons.

find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL bpftool PATHS /usr/sbin /sbin REQUIRED)

set(LPMON_BPF_GEN_DIR "${CMAKE_BINARY_DIR}/bpf-gen")
file(MAKE_DIRECTORY "${LPMON_BPF_GEN_DIR}")

add_custom_command(
  OUTPUT "${LPMON_BPF_GEN_DIR}/vmlinux.h"
  COMMAND ${BPFTOOL} btf dump file "${LPMON_VMLINUX_BTF}" format c > vmlinux.h.tmp
  COMMAND ${CMAKE_COMMAND} -E rename vmlinux.h.tmp vmlinux.h
  DEPENDS "${LPMON_VMLINUX_BTF}"
  WORKING_DIRECTORY "${LPMON_BPF_GEN_DIR}"
  COMMENT "Generating vmlinux.h from ${LPMON_VMLINUX_BTF}"
  VERBATIM)

if(NOT TARGET lpmon_bpf_skeletons)
  add_library(lpmon_bpf_skeletons INTERFACE)
  target_include_directories(lpmon_bpf_skeletons INTERFACE "${LPMON_BPF_GEN_DIR}")
endif()

function(lpmon_bpf_skeleton name)
  set(src "${CMAKE_CURRENT_SOURCE_DIR}/${name}.bpf.c")
  set(obj "${LPMON_BPF_GEN_DIR}/${name}.bpf.o")
  set(skel "${LPMON_BPF_GEN_DIR}/${name}.skel.h")
  file(GLOB bpf_headers "${CMAKE_CURRENT_SOURCE_DIR}/*.h")
  add_custom_command(
    OUTPUT "${obj}"
    COMMAND ${BPF_CLANG} -g -O2 -Wall -target bpf -D__TARGET_ARCH_x86
            -I "${LPMON_BPF_GEN_DIR}" -I "${CMAKE_CURRENT_SOURCE_DIR}"
            -c "${src}" -o "${obj}.tmp"
    COMMAND ${BPFTOOL} gen object "${obj}" "${obj}.tmp"
    COMMAND ${CMAKE_COMMAND} -E rm -f "${obj}.tmp"
    DEPENDS "${src}" ${bpf_headers} "${LPMON_BPF_GEN_DIR}/vmlinux.h"
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT "${skel}"
    COMMAND ${BPFTOOL} gen skeleton "${obj}" name "${name}_bpf" > "${skel}.tmp"
    COMMAND ${CMAKE_COMMAND} -E rename "${skel}.tmp" "${skel}"
    DEPENDS "${obj}"
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(bpf_${name} DEPENDS "${skel}")
  add_dependencies(lpmon_bpf_skeletons bpf_${name})
endfunction()
