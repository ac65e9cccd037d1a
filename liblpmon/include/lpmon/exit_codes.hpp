#pragma once

#include <array>
#include <string_view>

namespace lpmon {

// Exit codes of the lpmon command line. kExitCodeDocs below is their only documentation; the
// CLI prints it in --help. lpmon gate has its own codes (GateExitCode, further down).
enum class ExitCode : int {
  ok = 0,
  runtime_error = 1,
  usage_error = 2,
  unpatched = 3,
  in_transition = 4,
  no_livepatch = 5,
  invalid_input = 6,
  // inspect (and the commands that check a module file before loading it): one code per
  // reason a module cannot be used, so a rollout pipeline can tell a broken download from a
  // build for the wrong kernel.
  unreadable_file = 7,
  not_a_module = 8,
  corrupt_module = 9,
  not_livepatch = 10,
  kernel_mismatch = 11,
  // apply and revert: what became of the patch, so a rollout knows whether a host is clean.
  gate_failed = 12,
  rollback_incomplete = 13,
  busy = 14,
  locked = 15,
  interrupted = 16,
  other_build = 17,
};

struct ExitCodeDoc {
  ExitCode code;
  std::string_view meaning;
};

inline constexpr std::array<ExitCodeDoc, 18> kExitCodeDocs{{
    {ExitCode::ok, "success; for status: a patch is enabled and no transition is running"},
    {ExitCode::runtime_error, "a kernel operation or build step failed (the message says why)"},
    {ExitCode::usage_error, "invalid command line (lpmon gate has its own codes: see its --help)"},
    {ExitCode::unpatched, "status: no livepatch is enabled"},
    {ExitCode::in_transition, "status: a livepatch transition is in progress"},
    {ExitCode::no_livepatch, "the kernel has no livepatch support (CONFIG_LIVEPATCH is off)"},
    {ExitCode::invalid_input, "invalid input (fix unit, build request); nothing was changed"},
    {ExitCode::unreadable_file, "the module file does not exist or cannot be read"},
    {ExitCode::not_a_module, "the file is not a kernel module (not ELF, or not a linked .ko)"},
    {ExitCode::corrupt_module, "the module file is a truncated or malformed ELF"},
    {ExitCode::not_livepatch, "a kernel module, but not a livepatch (no livepatch=Y)"},
    {ExitCode::kernel_mismatch, "the module was built for another kernel release (vermagic)"},
    {ExitCode::gate_failed,
     "apply: the transition outran --timeout or the gate did not pass; the patch was reversed "
     "and unloaded"},
    {ExitCode::rollback_incomplete,
     "apply, revert: the patch could not be fully reversed or unloaded (the message says what "
     "is left)"},
    {ExitCode::busy, "another livepatch transition is in progress; nothing was changed"},
    {ExitCode::locked,
     "apply, revert --no-wait: another lpmon apply or revert is running; nothing was changed"},
    {ExitCode::interrupted,
     "apply: stopped by SIGINT, SIGTERM or SIGHUP; the host is as it was before (the patch was "
     "reversed and unloaded if it had been loaded)"},
    {ExitCode::other_build,
     "apply: another build of the patch (same name, other srcversion) is loaded; nothing was "
     "changed"},
}};

constexpr int to_int(ExitCode code) {
  return static_cast<int>(code);
}

// lpmon gate answers whether a rollout may go on, and pipelines branch on the answer, so its
// codes are the verdict (Argo Rollouts' analysis phases), in place of the table above. Wrong
// input cannot be 2 there, which is Inconclusive: it is 6, as invalid input is for every
// command, whether the command line, the gate file or an --arg is wrong.
enum class GateExitCode : int {
  pass = 0,
  fail = 1,
  inconclusive = 2,
  error = 3,
  invalid_input = 6,
};

struct GateExitCodeDoc {
  GateExitCode code;
  std::string_view meaning;
};

inline constexpr std::array<GateExitCodeDoc, 5> kGateExitCodeDocs{{
    {GateExitCode::pass, "Successful: every check passed"},
    {GateExitCode::fail, "Failed: a check failed (more failures than its failureLimit)"},
    {GateExitCode::inconclusive,
     "Inconclusive: a check could not decide (neither condition held, or empty results)"},
    {GateExitCode::error,
     "Error: Prometheus could not be queried (unreachable, HTTP or query errors beyond "
     "consecutiveErrorLimit, --timeout)"},
    {GateExitCode::invalid_input, "invalid command line, gate file or --arg; nothing was queried"},
}};

constexpr int to_int(GateExitCode code) {
  return static_cast<int>(code);
}

}  // namespace lpmon
