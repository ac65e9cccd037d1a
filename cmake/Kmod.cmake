# lpmon_kmod(<name> SOURCES <files...> [HEADERS <files...>])
#
# Builds an out-of-tree kernel module with Kbuild, once per test kernel (LPMON_TEST_KERNELS,
# see cmake/TestKernel.cmake) against that kernel's headers. Kbuild writes next to its
# sources, so they are copied into the build tree first. When the test kernel's vmlinux is
# known, the module gets BTF (pahole against vmlinux), which fentry on its functions needs:
# Debian's 6.1 headers lack vmlinux, so Kbuild itself skips module BTF (6.12's ship it).
# For the first kernel: sets <name>_KO to the path of the built module, defines target
# kmod_<name>, and adds the module to global property LPMON_KMODS. For every kernel
# (the first included): target kmod_<name><suffix>, properties LPMON_KMODS@<release> (the
# list) and LPMON_KO@<release>@<name> (this module's path); lpmon_kernel_ko() reads it.

find_program(PAHOLE pahole)

# lpmon_kmod_kernels(<var>): the releases modules are built for (at least the target kernel).
function(lpmon_kmod_kernels var)
  if(LPMON_TEST_KERNEL_LIST)
    set(${var} ${LPMON_TEST_KERNEL_LIST} PARENT_SCOPE)
  else()
    set(${var} "${LPMON_KERNEL_RELEASE}" PARENT_SCOPE)
  endif()
endfunction()

# lpmon_kernel_ko(<var> <release> <name>): the path of module <name> built for <release>.
function(lpmon_kernel_ko var release name)
  get_property(ko GLOBAL PROPERTY LPMON_KO@${release}@${name})
  if(NOT ko)
    message(FATAL_ERROR "no module ${name} is built for kernel ${release}")
  endif()
  set(${var} "${ko}" PARENT_SCOPE)
endfunction()

# lpmon_kmod_register(<release> <suffix> <name> <ko>): the bookkeeping every module shares.
function(lpmon_kmod_register release suffix name ko)
  if(NOT suffix)
    set_property(GLOBAL APPEND PROPERTY LPMON_KMODS "${ko}")
  endif()
  set_property(GLOBAL APPEND PROPERTY LPMON_KMODS@${release} "${ko}")
  set_property(GLOBAL PROPERTY LPMON_KO@${release}@${name} "${ko}")
endfunction()

function(lpmon_kmod name)
  cmake_parse_arguments(ARG "" "" "SOURCES;HEADERS" ${ARGN})
  lpmon_kmod_kernels(kernels)
  foreach(release IN LISTS kernels)
    set(kdir "${KDIR}")
    set(kernel_dir "${LPMON_KERNEL_DIR}")
    set(suffix "")
    if(LPMON_TEST_KERNEL_LIST)
      lpmon_test_kernel("${release}" KDIR kdir DIR kernel_dir SUFFIX suffix)
    endif()
    lpmon_kmod_for_kernel(${name} "${release}" "${kdir}" "${kernel_dir}" "${suffix}" ${ARGN})
    if(NOT suffix)
      set(${name}_KO "${ko}" PARENT_SCOPE)
    endif()
  endforeach()
endfunction()

# One module for one kernel; sets ko in the caller.
function(lpmon_kmod_for_kernel name release kdir kernel_dir suffix)
  cmake_parse_arguments(ARG "" "" "SOURCES;HEADERS" ${ARGN})
  if(NOT kdir OR NOT EXISTS "${kdir}/Makefile")
    message(FATAL_ERROR "Kernel build tree KDIR='${kdir}' is missing: install "
                        "linux-headers-${release} (scripts/setup.sh does) or pass -DKDIR=...")
  endif()
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${name}")
  if(suffix)
    set(dir "${CMAKE_CURRENT_BINARY_DIR}/${release}/${name}")
  endif()
  set(ko "${dir}/${name}.ko")
  set(copies)
  set(objs)
  foreach(f IN LISTS ARG_SOURCES ARG_HEADERS)
    get_filename_component(base "${f}" NAME)
    list(APPEND copies COMMAND ${CMAKE_COMMAND} -E copy_if_different
         "${CMAKE_CURRENT_SOURCE_DIR}/${f}" "${dir}/${base}")
  endforeach()
  foreach(f IN LISTS ARG_SOURCES)
    get_filename_component(stem "${f}" NAME_WE)
    list(APPEND objs "${stem}.o")
  endforeach()
  list(LENGTH objs nobjs)
  if(nobjs EQUAL 1 AND objs STREQUAL "${name}.o")
    set(kbuild "obj-m := ${name}.o\n")
  else()
    list(JOIN objs " " objs_joined)
    set(kbuild "obj-m := ${name}.o\n${name}-y := ${objs_joined}\n")
  endif()
  file(MAKE_DIRECTORY "${dir}")
  file(WRITE "${dir}/Kbuild.new" "${kbuild}")
  configure_file("${dir}/Kbuild.new" "${dir}/Kbuild" COPYONLY)

  # Headers that ship vmlinux (6.12's: BTF only) let Kbuild add module BTF itself.
  set(btf_step)
  if(PAHOLE AND EXISTS "${kernel_dir}/vmlinux" AND NOT EXISTS "${kdir}/vmlinux")
    set(btf_step COMMAND ${PAHOLE} -J --btf_gen_floats -j --lang_exclude=rust
                 --btf_base "${kernel_dir}/vmlinux" "${ko}")
  endif()

  list(TRANSFORM ARG_SOURCES PREPEND "${CMAKE_CURRENT_SOURCE_DIR}/" OUTPUT_VARIABLE src_abs)
  list(TRANSFORM ARG_HEADERS PREPEND "${CMAKE_CURRENT_SOURCE_DIR}/" OUTPUT_VARIABLE hdr_abs)
  add_custom_command(
    OUTPUT "${ko}"
    ${copies}
    COMMAND make -s -C "${kdir}" "M=${dir}" modules
    ${btf_step}
    DEPENDS ${src_abs} ${hdr_abs} "${dir}/Kbuild"
    WORKING_DIRECTORY "${dir}"
    COMMENT "Kernel module ${name}.ko for ${release} (KDIR=${kdir})"
    VERBATIM)
  add_custom_target(kmod_${name}${suffix} ALL DEPENDS "${ko}")
  lpmon_kmod_register("${release}" "${suffix}" ${name} "${ko}")
  set(ko "${ko}" PARENT_SCOPE)
endfunction()
