# lpmon_livepatch(<name> VERSION <n> FIXES <dir>... [EXCLUDE_CVES <cve>...]
#                 [OBJECT_KOS <object>=<module.ko>...] [INCLUDES <dir>...] [DEPENDS <target>...])
#
# Builds a cumulative livepatch module (atomic replace) from fix units with `lpmon build`,
# the same command users run, once per test kernel against its headers and vmlinux (as
# lpmon_kmod, whose bookkeeping it shares: kmod_<name><suffix>, LPMON_KMODS...). OBJECT_KOS
# and DEPENDS name the first kernel's modules and targets; for another kernel they stand
# for that kernel's build of the same module. See kmod/fixes/README.md.
include(Kmod)

function(lpmon_livepatch name)
  lpmon_kmod_kernels(kernels)
  foreach(release IN LISTS kernels)
    set(kdir "${KDIR}")
    set(btf "${LPMON_VMLINUX_BTF}")
    set(suffix "")
    if(LPMON_TEST_KERNEL_LIST)
      lpmon_test_kernel("${release}" KDIR kdir DIR kernel_dir SUFFIX suffix)
      if(suffix)
        set(btf "${kernel_dir}/vmlinux")
      endif()
    endif()
    lpmon_livepatch_for_kernel(${name} "${release}" "${kdir}" "${btf}" "${suffix}" ${ARGN})
  endforeach()
endfunction()

function(lpmon_livepatch_for_kernel name release kdir btf suffix)
  cmake_parse_arguments(ARG "" "VERSION" "FIXES;EXCLUDE_CVES;OBJECT_KOS;INCLUDES;DEPENDS" ${ARGN})
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${name}")
  if(suffix)
    set(dir "${CMAKE_CURRENT_BINARY_DIR}/${release}/${name}")
  endif()
  set(ko "${dir}/${name}.ko")
  set(args --name ${name} --version ${ARG_VERSION} --kdir "${kdir}"
           --kernel-btf "${btf}" --output "${dir}")
  set(deps lpmon)
  foreach(fixes IN LISTS ARG_FIXES)
    get_filename_component(fixes "${fixes}" ABSOLUTE)
    list(APPEND args --fixes "${fixes}")
    file(GLOB_RECURSE fix_files CONFIGURE_DEPENDS "${fixes}/*/fix.yaml" "${fixes}/*/fix.c")
    list(APPEND deps ${fix_files})
  endforeach()
  foreach(cve IN LISTS ARG_EXCLUDE_CVES)
    list(APPEND args --exclude-cve ${cve})
  endforeach()
  foreach(spec IN LISTS ARG_OBJECT_KOS)
    string(REGEX REPLACE "^[^=]*=" "" object_ko "${spec}")
    string(REGEX REPLACE "=.*$" "" object "${spec}")
    if(suffix)
      get_filename_component(object_name "${object_ko}" NAME_WE)
      lpmon_kernel_ko(object_ko "${release}" ${object_name})
    endif()
    list(APPEND args --object-btf "${object}=${object_ko}")
    list(APPEND deps "${object_ko}")
  endforeach()
  set(dep_targets)
  foreach(target IN LISTS ARG_DEPENDS)
    list(APPEND dep_targets ${target}${suffix})
  endforeach()
  foreach(include IN LISTS ARG_INCLUDES)
    get_filename_component(include "${include}" ABSOLUTE)
    list(APPEND args --include "${include}")
    file(GLOB headers CONFIGURE_DEPENDS "${include}/*.h")
    list(APPEND deps ${headers})
  endforeach()
  # The build time is fixed so an unchanged patch rebuilds to the same module.
  add_custom_command(
    OUTPUT "${ko}"
    COMMAND ${CMAKE_COMMAND} -E env SOURCE_DATE_EPOCH=0 $<TARGET_FILE:lpmon> build ${args}
    DEPENDS ${deps} ${dep_targets}
    COMMENT "Livepatch ${name} (version ${ARG_VERSION}) for ${release}"
    VERBATIM)
  add_custom_target(kmod_${name}${suffix} ALL DEPENDS "${ko}")
  lpmon_kmod_register("${release}" "${suffix}" ${name} "${ko}")
endfunction()
