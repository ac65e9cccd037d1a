// lpmon revert: disables a livepatch, follows the unpatching transition and unloads its
// module (liblpmon's rollout::roll_back).
#include "apply/apply.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <thread>

#include "apply/common.hpp"
#include "apply/progress_line.hpp"
#include "command.hpp"
#include "gate.hpp"
#include "inspect.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/gate/engine.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/kernel_log.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon/patch_control.hpp"
#include "lpmon/rollout/audit_log.hpp"
#include "lpmon/rollout/host_observation.hpp"
#include "lpmon/rollout/preflight.hpp"
#include "lpmon/rollout/rollback.hpp"
#include "lpmon/rollout/transition_follower.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using rollout::AuditLog;
using rollout::Refusal;
using rollout::Rollback;
using rollout::TransitionFollower;
using rollout::TransitionOutcome;
using namespace rollout_command;

// The patch a revert argument names: a module file's name, or a patch name as is.
std::variant<std::string, Refusal> revert_target(const RevertOptions& options) {
  const std::string& arg = options.patch;
  if (arg.ends_with(".ko") || arg.find('/') != std::string::npos) {
    try {
      ModuleInspector inspector(InspectOptions{.kernel_btf = std::nullopt, .paths = options.paths});
      return inspector.inspect(arg).name;
    } catch (const ModuleFileError& error) {
      return Refusal{rollout::module_file_exit_code(error.problem()), error.what()};
    }
  }
  static const std::regex kModuleName("[A-Za-z0-9_-]+");
  if (!std::regex_match(arg, kModuleName)) {
    return Refusal{ExitCode::invalid_input,
                   "'" + arg + "' is neither a patch name nor a module file (.ko)"};
  }
  std::string name = arg;
  std::replace(name.begin(), name.end(), '-', '_');  // as the kernel names modules
  return name;
}

int run_revert(const RevertOptions& options, std::ostream& out, std::ostream& err) {
  auto target = revert_target(options);
  if (auto* refusal = std::get_if<Refusal>(&target)) {
    err << "lpmon revert: " << refusal->message << '\n';
    return to_int(refusal->code);
  }
  const std::string patch = std::get<std::string>(target);
  require_livepatch(options.paths);

  const std::vector<LivepatchPatch> patches = read_patches(options.paths);
  if (const auto other = rollout::other_transition(patches, patch)) {
    err << "lpmon revert: livepatch " << *other
        << " is in transition; nothing was changed (wait for it: lpmon status)\n";
    return to_int(ExitCode::busy);
  }
  const bool active = std::any_of(patches.begin(), patches.end(),
                                  [&](const LivepatchPatch& p) { return p.name == patch; });
  const bool loaded = module_loaded(options.paths, patch);

  json j{{"command", "revert"}, {"patch", patch}};
  auto finish = [&](ExitCode code, bool changed, const std::string& result,
                    const std::string& message) {
    j["changed"] = changed;
    j["result"] = result;
    j["exit_code"] = to_int(code);
    j["message"] = message;
    if (options.json) {
      out << j.dump() << '\n';
    } else {
      out << patch << ": " << message << '\n';
    }
    if (code != ExitCode::ok) err << "lpmon revert: " << message << '\n';
    return to_int(code);
  };
  if (!active && !loaded)
    return finish(ExitCode::ok, false, "not-loaded", "not loaded; nothing to do");
  // A patch listed in /sys/kernel/livepatch is a livepatch; a module alone must say so.
  if (!active && !module_is_livepatch(options.paths, patch)) {
    return finish(ExitCode::not_livepatch, false, "not-livepatch",
                  "module " + patch +
                      " is loaded but is not a livepatch (no K in its taint); lpmon revert "
                      "unloads only livepatch modules; nothing was changed");
  }

  AuditLog audit = open_audit_log(options.audit_log, "revert", err);
  audit.record("revert", {{"patch", patch}, {"active", active}});
  if (!active) {
    if (auto problem = rollout::unload_when_released(options.paths, patch)) {
      return finish(ExitCode::rollback_incomplete, false, "rollback-incomplete", *problem);
    }
    audit.record("unload", {{"module", patch}});
    return finish(ExitCode::ok, true, "unloaded",
                  "its patch was no longer active (replaced or disabled); module unloaded");
  }

  TransitionFollower follower(options.paths, ProgressLine(err, progress_rewrites_in_place()));
  if (!follower.fallback_reason().empty()) {
    err << "lpmon revert: warning: following the transition by polling sysfs every 100 ms: "
        << follower.fallback_reason() << '\n';
  }
  const Rollback rollback = rollout::roll_back(options.paths, patch, follower, options.timeout,
                                               audit, say("lpmon: " + patch + ": ", err));
  j["rollback"] = rollback_json(rollback, follower);
  if (!rollback.left.empty()) {
    return finish(ExitCode::rollback_incomplete, rollback.started, "rollback-incomplete",
                  rollback.left);
  }
  std::string message = "reverted and unloaded";
  if (rollback.transition) {
    message += " (transition " + seconds_text(rollback.transition->duration) + ", " +
               std::to_string(rollback.transition->rounds) + " round(s))";
  }
  return finish(ExitCode::ok, true, "reverted", message);
}

}  // namespace

Command add_revert_command(CLI::App& lpmon) {
  auto options = std::make_shared<RevertOptions>();
  CLI::App* revert = lpmon.add_subcommand(
      "revert", "Disable a livepatch, follow the unpatching transition, unload its module (root)");
  revert->add_option("patch", options->patch, "The patch name (lpmon status) or its module file")
      ->type_name("PATCH")
      ->required();
  add_duration_option(*revert, options->timeout,
                      "How long to follow the unpatching transition (default 60s); it is never "
                      "forced, and the kernel keeps trying after that");
  revert->add_flag("--json", options->json, "Print the outcome as one JSON object");
  revert
      ->add_option("--audit-log", options->audit_log,
                   "Append a JSON line per step to FILE (default " +
                       std::string(rollout::kDefaultAuditLog) + ")")
      ->type_name("FILE");
  add_kernel_root_options(*revert, options->paths);
  revert->footer(
      "Exit codes: 0 reverted (or not loaded), 10 the module is not a livepatch, 13 the "
      "transition or the unload did not finish, 14 another transition is running; see lpmon "
      "--help.");
  return {revert, [options](std::ostream& out, std::ostream& err) {
            return run_revert(*options, out, err);
          }};
}

}  // namespace lpmon::cli
