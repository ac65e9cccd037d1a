// Reverting a livepatch: disable it, follow the unpatching transition, unload its module.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "lpmon/gate/duration.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/rollout/audit_log.hpp"
#include "lpmon/rollout/error.hpp"
#include "lpmon/rollout/progress.hpp"
#include "lpmon/rollout/rollback.hpp"
#include "lpmon/rollout/transaction.hpp"

namespace lpmon::rollout {

struct RevertRequest {
  std::string patch;  // a patch name or a module file
  gate::Duration timeout = std::chrono::seconds(60);
  std::filesystem::path audit_log{kDefaultAuditLog};
  KernelPaths paths;
  StatePaths state;  // the lock and the journal
  bool wait = true;  // for another run's lock; without, Error (ExitCode::locked)
  bool transaction = true;
};

struct RevertOutcome {
  // Set when the patch is not reverted. With an empty `result` it is a refusal: nothing was
  // changed and there is nothing to report but the message.
  std::optional<Error> error;
  ExitCode code() const { return error ? error->code : ExitCode::ok; }

  std::string patch;
  bool changed = false;
  std::string result;  // not-loaded, not-livepatch, unloaded, reverted, rollback-incomplete
  std::string message;
  std::string followed_by;  // TransitionFollower::method(), when a transition was followed
  std::optional<Rollback> rollback;
  std::string recovered;  // what became of an interrupted run found in the journal first
};

RevertOutcome revert_patch(const RevertRequest& request, const Progress& progress = {});

}  // namespace lpmon::rollout
