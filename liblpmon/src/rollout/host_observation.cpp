#include "lpmon/rollout/host_observation.hpp"

#include "lpmon/kernel_info.hpp"

namespace lpmon::rollout {

gate::LocalObservation HostObservation::observe() {
  gate::LocalObservation seen;
  seen.transition_duration = std::chrono::duration_cast<gate::Duration>(outcome_.duration);
  seen.transition_finished = outcome_.finished;
  std::vector<gate::BlockingTask> blocking;
  if (!outcome_.finished) {
    for (const auto& [pid, task] : outcome_.blockers) blocking.push_back({pid, task.comm});
  }
  seen.blocking_tasks = blocking;
  seen.taint_before = taint_before_;
  seen.taint_after = read_taint(paths_).mask;
  if (log_) {
    for (KernelLogRecord& record : log_->read_new()) {
      if (is_kernel_problem(record)) problems_.push_back(record.message);
    }
    seen.kernel_warnings = static_cast<unsigned>(problems_.size());
  }
  // The overhead needs calls timed before and after the patch: lpmon verify measures it.
  return seen;
}

}  // namespace lpmon::rollout
