// Undoing a patch: the steps lpmon apply takes when a patch fails, and lpmon revert.
#include "lpmon/rollout/rollback.hpp"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "lpmon/errors.hpp"
#include "lpmon/patch_control.hpp"
#include "lpmon/util/clock.hpp"
#include "lpmon/util/text.hpp"

namespace lpmon::rollout {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

std::optional<std::string> other_transition(const std::vector<LivepatchPatch>& patches,
                                            const std::string& self) {
  for (const LivepatchPatch& patch : patches) {
    if (patch.transition && patch.name != self) return patch.name;
  }
  return std::nullopt;
}

std::string blockers_text(const std::map<pid_t, BlockerSeen>& blockers) {
  std::string text;
  std::size_t shown = 0;
  for (const auto& [pid, task] : blockers) {
    if (shown++ == 5) {
      text += ", ...";
      break;
    }
    text += (text.empty() ? "" : ", ") + std::to_string(pid) + " (" + text::printable(task.comm) +
            (task.function.empty() ? "" : " in " + task.function) + ")";
  }
  return text;
}

// The tasks still short of the target, by procfs, with what BPF saw of them.
void add_current_blockers(const KernelPaths& paths, const std::string& patch,
                          TransitionOutcome& outcome) {
  try {
    const std::vector<LivepatchPatch> patches = read_patches(paths);
    const auto progress = transition_progress(paths, patches);
    if (!progress || progress->patch != patch) return;
    const auto live = std::find_if(patches.begin(), patches.end(),
                                   [&](const LivepatchPatch& p) { return p.name == patch; });
    if (live == patches.end()) return;
    // liblpmon's procfs reader, as lpmon status shows these tasks.
    for (const PendingTask& pending :
         describe_pending_tasks(paths, *live, progress->tasks.not_at_target)) {
      BlockerSeen& task = outcome.blockers[pending.pid];
      task.pid = pending.pid;
      if (task.comm.empty()) task.comm = pending.comm;
      if (task.reason.empty()) task.reason = pending.reason;
      if (task.function.empty()) task.function = pending.function;
    }
  } catch (const std::exception&) {
    // The blockers seen by BPF are still reported.
  }
}

// Unloads a module whose patch has just been freed. klp drops its module reference in a work
// item after the transition ends, so "in use" is retried for a short while.
std::optional<std::string> unload_when_released(const KernelPaths& paths,
                                                const std::string& module) {
  const auto give_up = SteadyClock::now() + std::chrono::seconds(5);
  for (;;) {
    try {
      unload_module(module);
      return std::nullopt;
    } catch (const KernelError& error) {
      if (!module_loaded(paths, module)) return std::nullopt;
      if (SteadyClock::now() >= give_up) return std::string(error.what());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Rollback roll_back(const KernelPaths& paths, const std::string& patch, TransitionFollower& follower,
                   gate::Duration timeout, AuditLog& audit,
                   const std::function<void(const std::string&)>& note,
                   const BeforeWrite& before_write) {
  Rollback rollback;
  if (before_write) {
    if (auto error = before_write("disable")) {
      rollback.left = error->message;
      return rollback;
    }
  }
  const auto since = SteadyClock::now();
  try {
    disable_patch(paths, patch);
    rollback.started = true;
    audit.record("disable", {{"patch", patch}});
  } catch (const KernelError& error) {
    // The patch may have gone on its own (replaced); only a live patch is a problem.
    if (fs::exists(patch_dir(paths, patch))) {
      rollback.left = error.what();
      return rollback;
    }
  }
  if (rollback.started) {
    if (note) note("undoing the patch");
    TransitionOutcome outcome = follower.wait(patch, false, since, since + timeout);
    if (!outcome.finished) add_current_blockers(paths, patch, outcome);
    audit.record(outcome.finished ? "rollback-transition-end" : "rollback-transition-timeout",
                 {{"patch", patch},
                  {"duration_seconds", std::chrono::duration<double>(outcome.duration).count()},
                  {"rounds", outcome.rounds}});
    rollback.transition = outcome;
    if (outcome.finished && !outcome.problem.empty()) {
      rollback.left = "undoing " + patch + ": " + outcome.problem;
      return rollback;
    }
    if (!outcome.finished) {
      rollback.left = "the transition undoing " + patch + " is still running after " +
                      seconds_text(outcome.duration) + ", held up by " +
                      blockers_text(outcome.blockers) +
                      "; the kernel keeps retrying, and the module stays loaded (lpmon status "
                      "shows it; lpmon revert " +
                      patch + " finishes the job)";
      return rollback;
    }
  }
  if (before_write) {
    if (auto error = before_write("unload")) {
      rollback.left = error->message;
      return rollback;
    }
  }
  if (auto problem = unload_when_released(paths, patch)) {
    rollback.left = *problem;
    return rollback;
  }
  rollback.unloaded = true;
  audit.record("unload", {{"module", patch}});
  return rollback;
}

}  // namespace lpmon::rollout
