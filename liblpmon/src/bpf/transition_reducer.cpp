#include "lpmon/bpf/transition_reducer.hpp"

#include <utility>
#include <variant>

namespace lpmon::bpf {

const TransitionState* TransitionReducer::find(const std::string& patch) const {
  const auto it = in_flight_.find(patch);
  return it == in_flight_.end() ? nullptr : &it->second;
}

TransitionState& TransitionReducer::state_of(const std::string& patch) {
  auto [it, added] = in_flight_.try_emplace(patch);
  if (added) it->second.patch = patch;
  return it->second;
}

std::optional<TransitionState> TransitionReducer::record(const TraceEvent& event) {
  if (const auto* transition = std::get_if<TransitionEvent>(&event)) {
    return record_transition(*transition);
  }
  if (const auto* round = std::get_if<RoundEvent>(&event)) {
    TransitionState& state = state_of(round->patch);
    if (!state.start_seen) state.patching = round->patching;
    state.rounds = round->round;
    state.last_round = *round;
  } else if (const auto* blocked = std::get_if<TaskBlockedEvent>(&event)) {
    TransitionState& state = state_of(blocked->patch);
    if (!state.start_seen) state.patching = blocked->patching;
    state.blockers[blocked->pid] = {blocked->pid, blocked->comm, blocked->reason,
                                    blocked->function};
  }
  return std::nullopt;
}

std::optional<TransitionState> TransitionReducer::record_transition(const TransitionEvent& event) {
  switch (event.kind) {
    case TransitionKind::start:
    case TransitionKind::in_progress: {
      // A new transition of the patch: whatever was known of an earlier one is over.
      TransitionState& state = in_flight_[event.patch];
      state = TransitionState{};
      state.patch = event.patch;
      state.patching = event.patching;
      state.start_seen = true;
      state.began_before_trace = event.kind == TransitionKind::in_progress;
      // in_progress events carry no duration (0): the first sight stands for the start.
      state.started = event.timestamp - event.duration;
      return std::nullopt;
    }
    case TransitionKind::reverse:
      if (auto it = in_flight_.find(event.patch); it != in_flight_.end()) {
        it->second.patching = event.patching;
      }
      return std::nullopt;
    case TransitionKind::end:
      break;
  }
  // The end event has the whole story's figures; an end whose start was not seen still ends.
  TransitionState state;
  if (auto it = in_flight_.find(event.patch); it != in_flight_.end()) {
    state = std::move(it->second);
    in_flight_.erase(it);
  }
  state.patch = event.patch;
  state.patching = event.patching;
  state.began_before_trace = event.began_before_trace;
  state.ended = true;
  state.result = event.result;
  state.ended_at = event.timestamp;
  state.duration = event.duration;
  state.rounds = event.rounds;
  if (!state.start_seen) state.started = event.timestamp - event.duration;
  return state;
}

}  // namespace lpmon::bpf
