#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lpmon/gate/local_check.hpp"
#include "lpmon/kernel_log.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/rollout/transition_follower.hpp"

namespace lpmon::rollout {

// What the host shows of the patch being applied, for the gate's local checks.
class HostObservation final : public gate::LocalSource {
 public:
  HostObservation(const KernelPaths& paths, std::string patch, KernelLog* log,
                  std::optional<std::uint64_t> taint_before, const TransitionOutcome& outcome)
      : paths_(paths),
        patch_(std::move(patch)),
        log_(log),
        taint_before_(taint_before),
        outcome_(outcome) {}

  gate::LocalObservation observe() override;

  const std::vector<std::string>& problems() const { return problems_; }

 private:
  KernelPaths paths_;
  std::string patch_;
  KernelLog* log_;
  std::optional<std::uint64_t> taint_before_;
  const TransitionOutcome& outcome_;
  std::vector<std::string> problems_;
};

}  // namespace lpmon::rollout
