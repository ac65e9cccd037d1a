// Applying a livepatch: load the module, follow its transition, run a gate's local checks, and
// undo the patch when the transition outruns the timeout or the gate does not pass. lpmon
// apply renders what apply_patch returns; anything else that applies patches calls it too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lpmon/gate/duration.hpp"
#include "lpmon/gate/engine.hpp"
#include "lpmon/gate/gate_file.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/rollout/audit_log.hpp"
#include "lpmon/rollout/error.hpp"
#include "lpmon/rollout/progress.hpp"
#include "lpmon/rollout/rollback.hpp"
#include "lpmon/rollout/transaction.hpp"
#include "lpmon/rollout/transition_follower.hpp"

namespace lpmon::rollout {

struct ApplyRequest {
  std::filesystem::path module;
  std::optional<std::filesystem::path> gate;  // a gate file; its local checks run
  std::map<std::string, std::string> args;    // values for the args the gate file declares
  gate::Duration timeout = std::chrono::seconds(60);
  std::filesystem::path audit_log{kDefaultAuditLog};
  bool force = false;  // force a transition that outruns the timeout (after confirm_force)
  KernelPaths paths;
  StatePaths state;  // the lock and the journal
  bool wait = true;  // for another run's lock; without, Error (ExitCode::locked)
  // The lock and the journal; off only to measure what they cost (BENCHMARKS.md).
  bool transaction = true;
};

struct ApplyOutcome {
  // Set when the patch is not applied. With an empty `result` it is a refusal: nothing was
  // changed and there is nothing to report but the message.
  std::optional<Error> error;
  ExitCode code() const { return error ? error->code : ExitCode::ok; }

  std::string patch;
  bool changed = false;
  std::string result;  // applied, already-applied, reverted, rollback-incomplete, load-failed
  std::string message;
  std::string followed_by;  // TransitionFollower::method(), when a transition was followed
  std::optional<TransitionOutcome> transition;
  bool forced = false;
  std::shared_ptr<const gate::GateFile> gate_file;  // what gate's CheckResult::spec point into
  std::optional<gate::GateReport> gate;
  std::optional<Rollback> rollback;
  std::vector<std::string> kernel_log;  // problems seen, or the lines explaining a failure
  std::optional<std::uint64_t> taint_before;
  std::optional<std::uint64_t> taint_after;
  std::vector<std::string> replaced;  // patches this one replaced
  std::string recovered;  // what became of an interrupted run found in the journal first
};

ApplyOutcome apply_patch(const ApplyRequest& request, const Progress& progress = {});

}  // namespace lpmon::rollout
