#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "lpmon/bpf/transition_tracer.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::cli {

// A task klp could not switch, as lpmon apply and revert report it.
struct BlockerSeen {
  pid_t pid = 0;
  std::string comm;
  std::string reason;    // bpf::to_string(BlockReason), or "not switched" from procfs
  std::string function;  // the patched function on its stack, when klp said so
};

// How one transition went, as far as it was followed.
struct TransitionOutcome {
  bool finished = false;  // the kernel ended it (complete, reversed, ...)
  bpf::TransitionResult result = bpf::TransitionResult::none;
  std::chrono::nanoseconds duration{};  // from the start (or the first sight) to the end or now
  std::uint32_t rounds = 0;
  // From the kernel's end of the transition (BPF timestamp) to lpmon seeing it.
  std::optional<std::chrono::nanoseconds> notice_latency;
  std::optional<std::chrono::nanoseconds> kernel_end;  // CLOCK_MONOTONIC
  std::map<pid_t, BlockerSeen> blockers;               // every task seen blocking it
  // Why the end cannot be taken as the one expected although the transition is over (the
  // patch vanished, `enabled` is not what the direction wants, sysfs unreadable at the end);
  // or, when not finished, why sysfs could not tell. Empty when all is as expected.
  std::string problem;
};

// How sysfs shows a transition: nullopt while it runs or when it cannot be read; otherwise
// the result for a transition towards `patching` (enabled 1) or unpatching (enabled 0).
std::optional<bpf::TransitionResult> sysfs_result(const PatchTransitionState& state, bool patching);

// Follows livepatch transitions through the BPF tracer, so lpmon sees a transition end when
// the kernel ends it rather than at the next sysfs poll. When BPF is unavailable it says so
// and polls sysfs every 100 ms instead. Construct it before the action that starts the
// transition, so that the start is not missed.
class TransitionFollower {
 public:
  // Progress lines go to `progress`; rewritten in place when it is a terminal. Without
  // `use_bpf` it polls sysfs (tests on fake trees).
  TransitionFollower(const KernelPaths& paths, std::ostream& progress, bool terminal,
                     bool use_bpf = true);
  ~TransitionFollower();

  // Waits until `patch`'s transition ends or `deadline` passes. `patching` is the direction
  // expected (the patch enabled at the end), checked against sysfs at the end. `since` is
  // when the action that started the transition began, for the sysfs fallback's duration.
  TransitionOutcome wait(const std::string& patch, bool patching,
                         std::chrono::steady_clock::time_point since,
                         std::chrono::steady_clock::time_point deadline);

  // "bpf" or "sysfs-poll".
  std::string method() const;
  // Why BPF was not used; empty when it is.
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  void on_event(const bpf::TraceEvent& event);
  // `ended`: the transition's end, for the last line.
  void show_progress(const std::string& patch, std::chrono::nanoseconds elapsed,
                     const TransitionOutcome* ended);

  KernelPaths paths_;
  std::ostream& progress_;
  bool terminal_;
  std::string fallback_reason_;
  std::unique_ptr<bpf::TransitionTracer> tracer_;
  // Events of every patch, kept until wait() asks for that patch.
  std::map<std::string, TransitionOutcome> seen_;
  std::map<std::string, std::chrono::nanoseconds> started_;
  std::map<std::string, std::uint32_t> last_blocked_;
  std::string last_progress_;
};

// CLOCK_MONOTONIC now, the clock of BPF timestamps.
std::chrono::nanoseconds monotonic_now();

}  // namespace lpmon::cli
