#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "lpmon/bpf/transition_tracer.hpp"

namespace lpmon::bpf {

// A task klp could not switch, as its first TaskBlockedEvent for a transition told it.
struct TransitionBlocker {
  pid_t pid = 0;
  std::string comm;
  BlockReason reason = BlockReason::other;
  std::string function;  // the patched function on its stack, when klp said so
};

// What the tracer's events say about one transition of one patch.
struct TransitionState {
  std::string patch;
  bool patching = true;  // the direction, after any reversal
  // A start or in_progress event was seen, so `started` is the kernel's. Rounds and blocked
  // tasks of a transition whose start was lost (a full ring buffer) are kept without one.
  bool start_seen = false;
  bool began_before_trace = false;              // first seen in progress, when the tracer attached
  std::chrono::nanoseconds started{};           // CLOCK_MONOTONIC: the start, or the first sight
  std::uint32_t rounds = 0;                     // klp rounds so far (since the tracer attached)
  std::optional<RoundEvent> last_round;         // the last round that left tasks unswitched
  std::map<pid_t, TransitionBlocker> blockers;  // every task seen blocking it

  // Set by the end event, from it.
  bool ended = false;
  TransitionResult result = TransitionResult::none;
  std::chrono::nanoseconds ended_at{};  // CLOCK_MONOTONIC
  std::chrono::nanoseconds duration{};  // the kernel's: since `started`
};

// The one reduction of the transition tracer's event stream into per-patch transitions, for
// lpmon apply's follower and the exporter alike. Events must come in the tracer's order. No
// clock, no locking, no kernel access: the callers add what they need.
class TransitionReducer {
 public:
  // Folds `event` in. Returns the transition it ended (an end event), which is then no longer
  // in flight; nullopt for any other event.
  std::optional<TransitionState> record(const TraceEvent& event);

  // Transitions that have not ended, by patch; those seen only through rounds or blocked
  // tasks have start_seen false.
  const std::map<std::string, TransitionState>& in_flight() const { return in_flight_; }
  const TransitionState* find(const std::string& patch) const;
  // Drops what is known about `patch`'s transition in flight (its end was learnt elsewhere).
  void forget(const std::string& patch) { in_flight_.erase(patch); }

 private:
  TransitionState& state_of(const std::string& patch);
  std::optional<TransitionState> record_transition(const TransitionEvent& event);

  std::map<std::string, TransitionState> in_flight_;
};

}  // namespace lpmon::bpf
