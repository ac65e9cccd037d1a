#pragma once

#include <functional>
#include <string>

#include "lpmon/gate/engine.hpp"
#include "lpmon/rollout/transition_follower.hpp"

namespace lpmon::rollout {

// What apply and revert tell while they run; the engine prints nothing itself. Every handler
// may be empty.
struct Progress {
  // Something the user should know that does not stop the run (no audit file, no BPF).
  std::function<void(const std::string&)> warning;
  // A step of the run worth a line ("unloaded module x before loading the file").
  std::function<void(const std::string&)> note;
  // A step concerning one patch ("undoing the patch").
  std::function<void(const std::string& patch, const std::string&)> patch_note;
  // The followed transition, about every 100 ms.
  TransitionFollower::ProgressHandler transition;
  // Each measurement of a gate check, as it is taken.
  std::function<void(const gate::CheckResult&, const gate::Measurement&)> measurement;
  // Asked before forcing a transition (apply --force); false (or empty) declines.
  std::function<bool(const std::string& patch)> confirm_force;
};

}  // namespace lpmon::rollout
