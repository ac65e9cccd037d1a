#pragma once

#include <array>
#include <string_view>

namespace lpmon {

// Exit codes of the lpmon command line. kExitCodeDocs below is their only documentation; the
// CLI prints it in --help.
enum class ExitCode : int {
  ok = 0,
  runtime_error = 1,
  usage_error = 2,
  unpatched = 3,
  in_transition = 4,
  no_livepatch = 5,
  invalid_input = 6,
};

struct ExitCodeDoc {
  ExitCode code;
  std::string_view meaning;
};

inline constexpr std::array<ExitCodeDoc, 7> kExitCodeDocs{{
    {ExitCode::ok, "success; for status: a patch is enabled and no transition is running"},
    {ExitCode::runtime_error, "a kernel operation or build step failed (the message says why)"},
    {ExitCode::usage_error, "invalid command line"},
    {ExitCode::unpatched, "status: no livepatch is enabled"},
    {ExitCode::in_transition, "status: a livepatch transition is in progress"},
    {ExitCode::no_livepatch, "the kernel has no livepatch support (CONFIG_LIVEPATCH is off)"},
    {ExitCode::invalid_input, "invalid input (fix unit, build request); nothing was changed"},
}};

constexpr int to_int(ExitCode code) {
  return static_cast<int>(code);
}

}  // namespace lpmon
