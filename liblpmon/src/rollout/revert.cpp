// Reverting a patch: which patch an argument names, what may be undone, and roll_back.
#include "lpmon/rollout/revert.hpp"

#include <algorithm>
#include <regex>

#include "lpmon/errors.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon/patch_control.hpp"
#include "lpmon/rollout/preflight.hpp"
#include "lpmon/util/clock.hpp"
#include "run.hpp"

namespace lpmon::rollout {
namespace {

// The patch a revert argument names: a module file's name, or a patch name as is.
std::variant<std::string, Error> revert_target(const RevertRequest& request) {
  const std::string& arg = request.patch;
  if (arg.ends_with(".ko") || arg.find('/') != std::string::npos) {
    try {
      ModuleInspector inspector(InspectOptions{.kernel_btf = std::nullopt, .paths = request.paths});
      return inspector.inspect(arg).name;
    } catch (const ModuleFileError& error) {
      return Error{module_file_exit_code(error.problem()), error.what()};
    }
  }
  static const std::regex kModuleName("[A-Za-z0-9_-]+");
  if (!std::regex_match(arg, kModuleName)) {
    return Error{ExitCode::invalid_input,
                 "'" + arg + "' is neither a patch name nor a module file (.ko)"};
  }
  std::string name = arg;
  std::replace(name.begin(), name.end(), '-', '_');  // as the kernel names modules
  return name;
}

RevertOutcome finish(RevertOutcome outcome, ExitCode code, bool changed, std::string result,
                     std::string message) {
  outcome.changed = changed;
  outcome.result = std::move(result);
  outcome.message = std::move(message);
  if (code != ExitCode::ok) outcome.error = Error{code, outcome.message};
  return outcome;
}

RevertOutcome revert_steps(const RevertRequest& request, const Progress& progress) {
  RevertOutcome outcome;
  auto target = revert_target(request);
  if (auto* error = std::get_if<Error>(&target)) {
    outcome.error = *error;
    return outcome;
  }
  const std::string patch = std::get<std::string>(target);
  outcome.patch = patch;
  require_livepatch(request.paths);

  // A revert finishes once started: signals are held off by the run's guard, not acted on.
  auto begun = detail::Run::begin(detail::run_options(request), progress, outcome.recovered);
  if (auto* error = std::get_if<Error>(&begun)) {
    outcome.error = *error;
    return outcome;
  }
  detail::Run& run = *std::get<std::unique_ptr<detail::Run>>(begun);

  const std::vector<LivepatchPatch> patches = read_patches(request.paths);
  if (const auto other = other_transition(patches, patch)) {
    outcome.error = Error{ExitCode::busy, "livepatch " + *other +
                                              " is in transition; nothing was changed (wait for "
                                              "it: lpmon status)"};
    return outcome;
  }
  const bool active = std::any_of(patches.begin(), patches.end(),
                                  [&](const LivepatchPatch& p) { return p.name == patch; });
  const bool loaded = module_loaded(request.paths, patch);
  if (!active && !loaded) {
    return finish(outcome, ExitCode::ok, false, "not-loaded", "not loaded; nothing to do");
  }
  // A patch listed in /sys/kernel/livepatch is a livepatch; a module alone must say so.
  if (!active && !module_is_livepatch(request.paths, patch)) {
    return finish(outcome, ExitCode::not_livepatch, false, "not-livepatch",
                  "module " + patch +
                      " is loaded but is not a livepatch (no K in its taint); lpmon revert "
                      "unloads only livepatch modules; nothing was changed");
  }

  JournalEntry entry;
  entry.command = "revert";
  entry.patch = patch;
  entry.srcversion = module_srcversion(request.paths, patch).value_or("");
  entry.was_enabled = active;
  entry.was_loaded = loaded;
  run.describe(entry);
  const auto journaled = [&](const std::string& step) { return run.step(step); };
  AuditLog audit(request.audit_log, "revert");
  if (!audit.warning().empty() && progress.warning) progress.warning(audit.warning());
  audit.record("revert", {{"patch", patch}, {"active", active}});
  if (!active) {
    if (auto problem = unload_when_released(request.paths, patch)) {
      return finish(outcome, ExitCode::rollback_incomplete, false, "rollback-incomplete", *problem);
    }
    audit.record("unload", {{"module", patch}});
    return finish(outcome, ExitCode::ok, true, "unloaded",
                  "its patch was no longer active (replaced or disabled); module unloaded");
  }

  TransitionFollower follower(request.paths, progress.transition);
  outcome.followed_by = follower.method();
  if (!follower.fallback_reason().empty() && progress.warning) {
    progress.warning("following the transition by polling sysfs every 100 ms: " +
                     follower.fallback_reason());
  }
  std::function<void(const std::string&)> note;
  if (progress.patch_note)
    note = [&](const std::string& line) { progress.patch_note(patch, line); };
  outcome.rollback =
      roll_back(request.paths, patch, follower, request.timeout, audit, note, journaled);
  const Rollback& rollback = *outcome.rollback;
  if (!rollback.left.empty()) {
    if (rollback.started) {
      run.step("rollback-incomplete");  // lpmon status and the next run find it
    } else {
      run.end();
    }
    return finish(outcome, ExitCode::rollback_incomplete, rollback.started, "rollback-incomplete",
                  rollback.left);
  }
  run.end();
  std::string message = "reverted and unloaded";
  if (rollback.transition) {
    message += " (transition " + seconds_text(rollback.transition->duration) + ", " +
               std::to_string(rollback.transition->rounds) + " round(s))";
  }
  return finish(outcome, ExitCode::ok, true, "reverted", message);
}

}  // namespace

RevertOutcome revert_patch(const RevertRequest& request, const Progress& progress) {
  return detail::guarded<RevertOutcome>([&] { return revert_steps(request, progress); });
}

}  // namespace lpmon::rollout
