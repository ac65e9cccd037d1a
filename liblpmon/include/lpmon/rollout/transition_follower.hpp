#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lpmon/bpf/transition_reducer.hpp"
#include "lpmon/bpf/transition_tracer.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::rollout {

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

// Where a transition being followed stands, for a progress line.
struct TransitionProgress {
  std::string patch;
  std::chrono::nanoseconds elapsed{};
  const TransitionOutcome* ended = nullptr;  // the end, in the last report of a wait()
  bool timed_out = false;                    // the last report of a wait() that timed out
  std::optional<std::uint32_t> round;        // the last klp round that left tasks, if any
  std::uint32_t tasks_left = 0;              // tasks that round could not switch
};

// Follows livepatch transitions through the BPF tracer, so lpmon sees a transition end when
// the kernel ends it rather than at the next sysfs poll. When BPF is unavailable it says so
// (fallback_reason) and polls sysfs every 100 ms instead. Construct it before the action that
// starts the transition, so that the start is not missed. It prints nothing: progress goes to
// the handler, about every 100 ms while it waits.
class TransitionFollower {
 public:
  using ProgressHandler = std::function<void(const TransitionProgress&)>;

  // Without `use_bpf` it polls sysfs (tests on fake trees).
  TransitionFollower(const KernelPaths& paths, ProgressHandler progress, bool use_bpf = true);
  ~TransitionFollower();

  // Waits until `patch`'s transition ends or `deadline` passes. `patching` is the direction
  // expected (the patch enabled at the end), checked against sysfs at the end. `since` is
  // when the action that started the transition began, for the sysfs fallback's duration.
  TransitionOutcome wait(const std::string& patch, bool patching,
                         std::chrono::steady_clock::time_point since,
                         std::chrono::steady_clock::time_point deadline);

  // A wait() ends early, unfinished, once `stop` says so (a signal asked the run to end).
  void stop_when(std::function<bool()> stop) { stop_ = std::move(stop); }

  // "bpf" or "sysfs-poll".
  std::string method() const;
  // Why BPF was not used; empty when it is.
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  void on_event(const bpf::TraceEvent& event);
  // What is known of `patch`'s transition: its end if seen, else what the reducer has so far.
  TransitionOutcome so_far(const std::string& patch) const;
  // The kernel's start of `patch`'s transition if the tracer saw it, else `otherwise`.
  std::chrono::nanoseconds started(const std::string& patch,
                                   std::chrono::nanoseconds otherwise) const;
  void report(const std::string& patch, std::chrono::nanoseconds elapsed,
              const TransitionOutcome* ended, bool timed_out = false);

  KernelPaths paths_;
  ProgressHandler progress_;
  std::function<bool()> stop_;
  std::string fallback_reason_;
  std::unique_ptr<bpf::TransitionTracer> tracer_;
  bpf::TransitionReducer reducer_;  // transitions in flight, of every patch
  // Ends of every patch, kept until wait() asks for that patch.
  std::map<std::string, TransitionOutcome> ended_;
};

}  // namespace lpmon::rollout
