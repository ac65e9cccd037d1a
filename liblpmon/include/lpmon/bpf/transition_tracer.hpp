#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "lpmon/kernel_paths.hpp"

namespace lpmon::bpf {

enum class TransitionKind { start, reverse, end };

enum class TransitionResult { none, complete, reversed, cancelled, forced };

// One event of bpf/transition.bpf.c, decoded.
struct TransitionEvent {
  std::chrono::nanoseconds timestamp{};  // CLOCK_MONOTONIC
  std::chrono::nanoseconds duration{};   // end events: since the start event
  TransitionKind kind = TransitionKind::start;
  bool patching = true;  // target state after any reversal: patched (true) or unpatched
  TransitionResult result = TransitionResult::none;
  std::uint32_t rounds = 0;  // klp_try_complete_transition calls so far
  std::string patch;
};

std::string_view to_string(TransitionKind kind);
std::string_view to_string(TransitionResult result);

// Decodes one ring-buffer record. Throws BpfError when the record is not an event of the
// kind and size this build knows (a BPF object from another build).
TransitionEvent decode_transition_event(const void* data, std::size_t size);

// Loads and attaches bpf/transition.bpf.c (fentry on the klp transition functions) and
// delivers its events. Attaching costs about 0.35 s per program under TCG.
class TransitionTracer {
 public:
  using Handler = std::function<void(const TransitionEvent&)>;

  // Throws BpfError or LivepatchUnsupportedError with a message meant for the user.
  explicit TransitionTracer(Handler handler, const KernelPaths& paths = {});
  ~TransitionTracer();
  TransitionTracer(const TransitionTracer&) = delete;
  TransitionTracer& operator=(const TransitionTracer&) = delete;

  // Waits up to `timeout` for events and hands each to the handler. Returns how many were
  // handled; throws BpfError on a ring-buffer failure other than EINTR.
  int poll(std::chrono::milliseconds timeout);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lpmon::bpf
