# lpmon_kmod(<name> SOURCES <files...> [HEADERS <files...>])
#
# Builds an out-of-tree kernel module with Kbuild against KDIR. Kbuild writes next to its
# sources, so they are copied into the build tree first. When the test kernel's vmlinux is
# known, the module gets BTF (pahole against vmlinux), which fentry on its functions needs:
# Debian's headers lack vmlinux, so Kbuild itself skips module BTF.
# Sets <name>_KO to the path of the built module, and defines target kmod_<name>.

find_program(PAHOLE pahole)

function(lpmon_kmod name)
  cmake_parse_arguments(ARG "" "" "SOURCES;HEADERS" ${ARGN})
  if(NOT KDIR OR NOT EXISTS "${KDIR}/Makefile")
    message(FATAL_ERROR "Kernel build tree KDIR='${KDIR}' is missing: install "
                        "linux-headers-${LPMON_KERNEL_RELEASE} (scripts/setup.sh does) or pass -DKDIR=...")
  endif()
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${name}")
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

  set(btf_step)
  if(PAHOLE AND EXISTS "${LPMON_KERNEL_DIR}/vmlinux")
    set(btf_step COMMAND ${PAHOLE} -J --btf_gen_floats -j --lang_exclude=rust
                 --btf_base "${LPMON_KERNEL_DIR}/vmlinux" "${ko}")
  endif()

  list(TRANSFORM ARG_SOURCES PREPEND "${CMAKE_CURRENT_SOURCE_DIR}/" OUTPUT_VARIABLE src_abs)
  list(TRANSFORM ARG_HEADERS PREPEND "${CMAKE_CURRENT_SOURCE_DIR}/" OUTPUT_VARIABLE hdr_abs)
  add_custom_command(
    OUTPUT "${ko}"
    ${copies}
    COMMAND make -s -C "${KDIR}" "M=${dir}" modules
    ${btf_step}
    DEPENDS ${src_abs} ${hdr_abs} "${dir}/Kbuild"
    WORKING_DIRECTORY "${dir}"
    COMMENT "Kernel module ${name}.ko (KDIR=${KDIR})"
    VERBATIM)
  add_custom_target(kmod_${name} ALL DEPENDS "${ko}")
  set(${name}_KO "${ko}" PARENT_SCOPE)
  set_property(GLOBAL APPEND PROPERTY LPMON_KMODS "${ko}")
endfunction()
