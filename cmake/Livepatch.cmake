# lpmon_livepatch(<name> VERSION <n> FIXES <dir>... [EXCLUDE_CVES <cve>...]
#                 [OBJECT_KOS <object>=<module.ko>...] [INCLUDES <dir>...] [DEPENDS <target>...])
#
# Builds a cumulative livepatch module (atomic replace) from fix units with `lpmon build`,
# the same command users run, against KDIR and the target kernel's vmlinux. Adds the module
# to the guest initramfs like lpmon_kmod does. See kmod/fixes/README.md.

function(lpmon_livepatch name)
  cmake_parse_arguments(ARG "" "VERSION" "FIXES;EXCLUDE_CVES;OBJECT_KOS;INCLUDES;DEPENDS" ${ARGN})
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${name}")
  set(ko "${dir}/${name}.ko")
  set(args --name ${name} --version ${ARG_VERSION} --kdir "${KDIR}"
           --kernel-btf "${LPMON_VMLINUX_BTF}" --output "${dir}")
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
    list(APPEND args --object-btf ${spec})
    string(REGEX REPLACE "^[^=]*=" "" object_ko "${spec}")
    list(APPEND deps "${object_ko}")
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
    DEPENDS ${deps} ${ARG_DEPENDS}
    COMMENT "Livepatch ${name} (version ${ARG_VERSION})"
    VERBATIM)
  add_custom_target(kmod_${name} ALL DEPENDS "${ko}")
  set_property(GLOBAL APPEND PROPERTY LPMON_KMODS "${ko}")
endfunction()
