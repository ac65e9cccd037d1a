# Writes the man pages from --help with help2man: lpmon.1, lpmon-SUBCOMMAND.1 for every
# subcommand `lpmon --help` lists, lpmon-exporter.1; gzipped (gzip -9n, as Debian keeps them).
# cmake -DHELP2MAN=... -DGZIP=... -DOUT=DIR -DLPMON=... -DEXPORTER=... -P man.cmake
file(REMOVE_RECURSE "${OUT}/lpmon" "${OUT}/exporter")
file(MAKE_DIRECTORY "${OUT}/lpmon" "${OUT}/exporter" "${OUT}/bin")

execute_process(COMMAND "${LPMON}" --version OUTPUT_VARIABLE version_line RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0 OR NOT version_line MATCHES "^lpmon ([0-9][^ ]*)$")
  message(FATAL_ERROR "`${LPMON} --version` printed '${version_line}' (exit ${rc}), not 'lpmon VERSION'")
endif()
set(version "${CMAKE_MATCH_1}")

# page NAME PROGRAM SECTION_DIR DESCRIPTION
function(page name program dir description)
  set(out "${OUT}/${dir}/${name}.1")
  execute_process(
    COMMAND "${HELP2MAN}" --no-info --no-discard-stderr --section=1 "--name=${description}"
            "--version-string=${version}" "--output=${out}" "${program}"
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "help2man ${program}: ${err}")
  endif()
  execute_process(COMMAND "${GZIP}" -9nf "${out}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${out} failed")
  endif()
endfunction()

execute_process(COMMAND "${LPMON}" --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "`${LPMON} --help` exited ${rc}")
endif()
page(lpmon "${LPMON}" lpmon "observe, apply and gate Linux kernel livepatches")

# The subcommands: the lines of `lpmon --help` between "Subcommands:" and the next blank line.
string(REGEX MATCH "\nSubcommands:\n(([ ]+[^\n]+\n)+)" block "${help}")
string(REPLACE "\n" ";" lines "${CMAKE_MATCH_1}")
set(count 0)
foreach(line IN LISTS lines)
  if(NOT line MATCHES "^  ([a-z][a-z0-9-]*)[ ]+(.+)$")
    continue()
  endif()
  set(sub "${CMAKE_MATCH_1}")
  # help2man's NAME line: the summary with a lowercase first letter ("Show ..." -> "show ...").
  set(summary "${CMAKE_MATCH_2}")
  string(SUBSTRING "${summary}" 0 1 first)
  string(SUBSTRING "${summary}" 1 -1 rest)
  string(TOLOWER "${first}" first)
  set(summary "${first}${rest}")
  # help2man runs a program: a wrapper that is `lpmon SUB`.
  set(wrapper "${OUT}/bin/lpmon-${sub}")
  file(WRITE "${wrapper}" "#!/bin/sh\nexec '${LPMON}' ${sub} \"$@\"\n")
  file(CHMOD "${wrapper}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  page("lpmon-${sub}" "${wrapper}" lpmon "${summary}")
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "found no subcommands in `${LPMON} --help`")
endif()

page(lpmon-exporter "${EXPORTER}" exporter "Prometheus exporter for Linux kernel livepatches")
file(WRITE "${OUT}/man.stamp" "${version}\n")
