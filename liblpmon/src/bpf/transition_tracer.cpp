#include "lpmon/bpf/transition_tracer.hpp"

#include <linux/types.h>

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "lpmon/bpf/probe.hpp"
#include "lpmon/bpf/skeleton.hpp"

extern "C" {
#include "transition.h"
#include "transition.skel.h"
}

LPMON_BPF_SKELETON_OPS(transition_bpf);

namespace lpmon::bpf {

std::string_view to_string(TransitionKind kind) {
  switch (kind) {
    case TransitionKind::start:
      return "start";
    case TransitionKind::reverse:
      return "reverse";
    case TransitionKind::end:
      return "end";
  }
  return "unknown";
}

std::string_view to_string(TransitionResult result) {
  switch (result) {
    case TransitionResult::none:
      return "none";
    case TransitionResult::complete:
      return "complete";
    case TransitionResult::reversed:
      return "reversed";
    case TransitionResult::cancelled:
      return "cancelled";
    case TransitionResult::forced:
      return "forced";
  }
  return "unknown";
}

TransitionEvent decode_transition_event(const void* data, std::size_t size) {
  if (size != sizeof(lpmon_transition_event)) {
    throw BpfError("transition event of " + std::to_string(size) + " bytes, expected " +
                   std::to_string(sizeof(lpmon_transition_event)));
  }
  lpmon_transition_event raw;
  std::memcpy(&raw, data, sizeof raw);
  TransitionEvent event;
  event.timestamp = std::chrono::nanoseconds(raw.timestamp_ns);
  event.duration = std::chrono::nanoseconds(raw.duration_ns);
  switch (raw.kind) {
    case LPMON_TRANSITION_START:
      event.kind = TransitionKind::start;
      break;
    case LPMON_TRANSITION_REVERSE:
      event.kind = TransitionKind::reverse;
      break;
    case LPMON_TRANSITION_END:
      event.kind = TransitionKind::end;
      break;
    default:
      throw BpfError("transition event of unknown kind " + std::to_string(raw.kind));
  }
  if (raw.target_state != LPMON_TARGET_PATCHED && raw.target_state != LPMON_TARGET_UNPATCHED) {
    throw BpfError("transition event with unknown target state " +
                   std::to_string(raw.target_state));
  }
  event.patching = raw.target_state == LPMON_TARGET_PATCHED;
  switch (raw.result) {
    case LPMON_RESULT_NONE:
      event.result = TransitionResult::none;
      break;
    case LPMON_RESULT_COMPLETE:
      event.result = TransitionResult::complete;
      break;
    case LPMON_RESULT_REVERSED:
      event.result = TransitionResult::reversed;
      break;
    case LPMON_RESULT_CANCELLED:
      event.result = TransitionResult::cancelled;
      break;
    case LPMON_RESULT_FORCED:
      event.result = TransitionResult::forced;
      break;
    default:
      throw BpfError("transition event with unknown result " + std::to_string(raw.result));
  }
  event.rounds = raw.rounds;
  event.patch.assign(raw.patch, strnlen(raw.patch, sizeof raw.patch));
  return event;
}

struct TransitionTracer::State {
  Handler handler;
  Skeleton<transition_bpf> skeleton;
  ring_buffer* events = nullptr;
  // An exception must not unwind through libbpf's C frames: kept here, rethrown by poll().
  std::exception_ptr error;

  ~State() { ring_buffer__free(events); }

  static int on_event(void* ctx, void* data, size_t size) {
    auto* self = static_cast<State*>(ctx);
    try {
      self->handler(decode_transition_event(data, size));
    } catch (...) {
      self->error = std::current_exception();
      return -ECANCELED;
    }
    return 0;
  }
};

TransitionTracer::TransitionTracer(Handler handler, const KernelPaths& paths)
    : state_(std::make_unique<State>()) {
  require_bpf_tracing(paths);
  state_->handler = std::move(handler);
  const std::string name = "transition";
  if (!state_->skeleton) throw BpfError(describe_bpf_failure("cannot open", name, errno));
  if (int err = state_->skeleton.load()) {
    throw BpfError(describe_bpf_failure("cannot load", name, err));
  }
  if (int err = state_->skeleton.attach()) {
    throw BpfError(describe_bpf_failure("cannot attach", name, err));
  }
  state_->events = ring_buffer__new(bpf_map__fd(state_->skeleton->maps.transition_events),
                                    &State::on_event, state_.get(), nullptr);
  if (!state_->events) {
    throw BpfError(describe_bpf_failure("cannot open the ring buffer of", name, errno));
  }
}

TransitionTracer::~TransitionTracer() = default;

int TransitionTracer::poll(std::chrono::milliseconds timeout) {
  int n = ring_buffer__poll(state_->events, static_cast<int>(timeout.count()));
  if (state_->error) std::rethrow_exception(std::exchange(state_->error, nullptr));
  if (n == -EINTR) return 0;
  if (n < 0) throw BpfError(describe_bpf_failure("polling", "transition", n));
  return n;
}

}  // namespace lpmon::bpf
