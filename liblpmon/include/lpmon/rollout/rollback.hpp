#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lpmon/gate/duration.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/rollout/audit_log.hpp"
#include "lpmon/rollout/error.hpp"
#include "lpmon/rollout/transition_follower.hpp"

namespace lpmon::rollout {

// The patch in transition other than `self`, which apply and revert wait for; nullopt when
// none is.
std::optional<std::string> other_transition(const std::vector<LivepatchPatch>& patches,
                                            const std::string& self);

// Adds the tasks still short of `patch`'s target, by procfs (as lpmon status shows them), to
// the blockers BPF saw. A patch no longer in transition adds nothing.
void add_current_blockers(const KernelPaths& paths, const std::string& patch,
                          TransitionOutcome& outcome);

// "123 (comm in function), ...": the first five blockers, for messages.
std::string blockers_text(const std::map<pid_t, BlockerSeen>& blockers);

// Unloads a module whose patch has just been freed. klp drops its module reference in a work
// item after the transition ends, so "in use" is retried for a short while. Returns why it
// could not, or nullopt when the module is gone.
std::optional<std::string> unload_when_released(const KernelPaths& paths,
                                                const std::string& module);

// What undoing a patch did; `left` says what could not be undone.
struct Rollback {
  bool started = false;
  std::optional<TransitionOutcome> transition;
  bool unloaded = false;
  std::string left;  // empty when the host is back as it was
};

// Reverses or undoes `patch` (writes 0 to enabled), follows that transition for at most
// `timeout`, and unloads the module; each step goes to the audit log, and `note` hears of the
// undoing once it started. `before_write` hears of each kernel write ("disable", "unload")
// before it is made (the journal records it there); an Error from it stops the rollback there,
// the write not made. It never forces.
using BeforeWrite = std::function<std::optional<Error>(const std::string& step)>;
Rollback roll_back(const KernelPaths& paths, const std::string& patch, TransitionFollower& follower,
                   gate::Duration timeout, AuditLog& audit,
                   const std::function<void(const std::string&)>& note = {},
                   const BeforeWrite& before_write = {});

}  // namespace lpmon::rollout
