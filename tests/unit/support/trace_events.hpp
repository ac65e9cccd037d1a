#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lpmon/bpf/transition_tracer.hpp"

namespace lpmon::testing {

// A transition event as the tracer decodes it; in_progress ones began before the trace.
inline bpf::TransitionEvent transition_event(
    bpf::TransitionKind kind, const std::string& patch, bool patching, std::chrono::milliseconds at,
    std::chrono::milliseconds duration = {},
    bpf::TransitionResult result = bpf::TransitionResult::none, std::uint32_t rounds = 0) {
  bpf::TransitionEvent e;
  e.kind = kind;
  e.patch = patch;
  e.patching = patching;
  e.timestamp = at;
  e.duration = duration;
  e.result = result;
  e.rounds = rounds;
  e.began_before_trace = kind == bpf::TransitionKind::in_progress;
  return e;
}

}  // namespace lpmon::testing
