#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "lpmon/bpf/transition_tracer.hpp"
#include "lpmon/kernel_log.hpp"

namespace lpmon::bpf {

// Cancelled transitions that the tracer's probes cannot see. With ftrace off
// (kernel.ftrace_enabled=0) no fentry or kprobe fires; livepatch cannot register its own
// handler either, so the only transition the kernel can then make is one it cancels at once,
// and it logs it: "enabling patch 'X'", then "failed to enable patch 'X'" (6.1's
// __klp_enable_patch, whose error path always goes through klp_cancel_transition).
//
// Fed the probes' events and the kernel log, it returns a START and a cancelled END for each
// logged failure the probes did not report, and nothing for those they did (a pre-patch
// callback's refusal, with ftrace on). The tracer reads the log before it drains the ring
// buffer, so the probes' START of an attempt, made before the kernel logged its failure, has
// been seen by the time the failure is; its END may still be on the way.
class LoggedCancellations {
 public:
  void saw(const TraceEvent& event);
  std::vector<TransitionEvent> from_log(const KernelLogRecord& record);

 private:
  // Per patch: cancelled ENDs from the probes not yet matched with a logged failure; below
  // zero, failures matched ahead with the END of a transition the probes have in flight.
  std::map<std::string, int> probe_cancels_;
  std::set<std::string> probe_in_flight_;
  std::map<std::string, std::uint64_t> enabling_usec_;  // when the last attempt was logged
};

}  // namespace lpmon::bpf
