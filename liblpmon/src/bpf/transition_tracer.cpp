#include "lpmon/bpf/transition_tracer.hpp"

#include <linux/types.h>

#include <bpf/libbpf.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "lpmon/bpf/logged_cancellations.hpp"
#include "lpmon/bpf/probe.hpp"
#include "lpmon/bpf/skeleton.hpp"

extern "C" {
#include "transition.h"
#include "transition.skel.h"
}

LPMON_BPF_SKELETON_OPS(transition_bpf);

namespace lpmon::bpf {
namespace {

template <std::size_t N>
std::string fixed_string(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

bool decode_target_state(__u32 target_state) {
  if (target_state != LPMON_TARGET_PATCHED && target_state != LPMON_TARGET_UNPATCHED) {
    throw BpfError("transition event with unknown target state " + std::to_string(target_state));
  }
  return target_state == LPMON_TARGET_PATCHED;
}

template <typename Raw>
Raw copy_record(const void* data, std::size_t size, const char* what) {
  if (size != sizeof(Raw)) {
    throw BpfError(std::string(what) + " of " + std::to_string(size) + " bytes, expected " +
                   std::to_string(sizeof(Raw)));
  }
  Raw raw;
  std::memcpy(&raw, data, sizeof raw);
  return raw;
}

TransitionEvent decode_transition(const void* data, std::size_t size) {
  const auto raw = copy_record<lpmon_transition_event>(data, size, "transition event");
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
    case LPMON_TRANSITION_IN_PROGRESS:
      event.kind = TransitionKind::in_progress;
      break;
    default:
      throw BpfError("transition event of unknown kind " + std::to_string(raw.kind));
  }
  event.patching = decode_target_state(raw.target_state);
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
  event.began_before_trace = (raw.flags & LPMON_TRANSITION_ADOPTED) != 0;
  event.switched_at_cond_resched = raw.switched_at_cond_resched;
  event.patch = fixed_string(raw.patch);
  return event;
}

RoundEvent decode_round(const void* data, std::size_t size) {
  const auto raw = copy_record<lpmon_round_event>(data, size, "round event");
  return RoundEvent{
      .timestamp = std::chrono::nanoseconds(raw.timestamp_ns),
      .patch = fixed_string(raw.patch),
      .patching = decode_target_state(raw.target_state),
      .round = raw.round,
      .began_before_trace = (raw.transition_flags & LPMON_TRANSITION_ADOPTED) != 0,
      .switched = raw.switched,
      .blocked = raw.blocked,
      .running = raw.running,
      .unreliable_stack = raw.unreliable_stack,
      .sleeping_in_function = raw.sleeping_in_function,
      .other = raw.other,
      .reported = raw.reported,
      .unreported = raw.unreported,
  };
}

TaskBlockedEvent decode_task_blocked(const void* data, std::size_t size) {
  const auto raw = copy_record<lpmon_task_blocked_event>(data, size, "task_blocked event");
  TaskBlockedEvent event;
  event.timestamp = std::chrono::nanoseconds(raw.timestamp_ns);
  event.patch = fixed_string(raw.patch);
  event.patching = decode_target_state(raw.target_state);
  event.round = raw.round;
  switch (raw.reason) {
    case LPMON_BLOCK_RUNNING:
      event.reason = BlockReason::running;
      break;
    case LPMON_BLOCK_UNRELIABLE_STACK:
      event.reason = BlockReason::unreliable_stack;
      break;
    case LPMON_BLOCK_SLEEPING_IN_FUNCTION:
      event.reason = BlockReason::sleeping_in_function;
      break;
    case LPMON_BLOCK_OTHER:
      event.reason = BlockReason::other;
      break;
    default:
      throw BpfError("task_blocked event with unknown reason " + std::to_string(raw.reason));
  }
  event.error = raw.error;
  event.pid = static_cast<pid_t>(raw.pid);
  event.tgid = static_cast<pid_t>(raw.tgid);
  event.comm = fixed_string(raw.comm);
  event.kthread = (raw.flags & LPMON_TASK_KTHREAD) != 0;
  event.state = task_state_letter(raw.task_state);
  event.function = fixed_string(raw.function);
  if (raw.stack_frames < 0) {
    event.stack_error = -raw.stack_frames;
  } else {
    const auto frames =
        std::min<std::size_t>(static_cast<std::size_t>(raw.stack_frames), std::size(raw.stack));
    for (std::size_t i = 0; i < frames; ++i)
      event.stack.push_back({.address = raw.stack[i], .symbol = {}});
  }
  return event;
}

}  // namespace

std::string_view to_string(TransitionKind kind) {
  switch (kind) {
    case TransitionKind::start:
      return "start";
    case TransitionKind::reverse:
      return "reverse";
    case TransitionKind::end:
      return "end";
    case TransitionKind::in_progress:
      return "in_progress";
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

std::string_view to_string(BlockReason reason) {
  switch (reason) {
    case BlockReason::running:
      return "running";
    case BlockReason::unreliable_stack:
      return "unreliable_stack";
    case BlockReason::sleeping_in_function:
      return "sleeping_in_function";
    case BlockReason::other:
      return "other";
  }
  return "unknown";
}

std::string describe(BlockReason reason, bool patching) {
  switch (reason) {
    case BlockReason::running:
      return "running on another CPU";
    case BlockReason::unreliable_stack:
      return "its stack is unreliable";
    case BlockReason::sleeping_in_function:
      return patching ? "sleeping in a to-be-patched function"
                      : "sleeping in a to-be-unpatched function";
    case BlockReason::other:
      return "klp could not check it";
  }
  return "unknown";
}

char task_state_letter(std::uint32_t state) {
  // 6.1 include/linux/sched.h: TASK_IDLE, TASK_RTLOCK_WAIT and TASK_REPORT, and the order
  // of fs/proc/array.c's task_state_array.
  constexpr std::uint32_t kTaskUninterruptible = 0x2;
  constexpr std::uint32_t kTaskIdle = 0x402;
  constexpr std::uint32_t kTaskRtlockWait = 0x1000;
  constexpr std::uint32_t kTaskReport = 0x7f;
  if (state == kTaskIdle) return 'I';
  if (state == kTaskRtlockWait) state = kTaskUninterruptible;
  return "RSDTtXZP"[std::bit_width(state & kTaskReport)];
}

TraceEvent decode_trace_event(const void* data, std::size_t size) {
  __u32 type = 0;
  if (size < sizeof type) {
    throw BpfError("trace record of " + std::to_string(size) + " bytes has no type");
  }
  std::memcpy(&type, data, sizeof type);
  switch (type) {
    case LPMON_EVENT_TRANSITION:
      return decode_transition(data, size);
    case LPMON_EVENT_ROUND:
      return decode_round(data, size);
    case LPMON_EVENT_TASK_BLOCKED:
      return decode_task_blocked(data, size);
  }
  throw BpfError("trace record of unknown type " + std::to_string(type));
}

struct TransitionTracer::State {
  Handler handler;
  Skeleton<transition_bpf> skeleton;
  ring_buffer* events = nullptr;
  KernelSymbols symbols;
  // The kernel log, for the transitions the probes cannot see (LoggedCancellations); null
  // when it cannot be read (kernel.dmesg_restrict=1 without CAP_SYSLOG).
  std::unique_ptr<KernelLog> log;
  LoggedCancellations cancellations;
  // An exception must not unwind through libbpf's C frames: kept here, rethrown by poll().
  std::exception_ptr error;

  explicit State(const KernelPaths& paths) : symbols(paths) {}
  ~State() { ring_buffer__free(events); }

  static int on_event(void* ctx, void* data, size_t size) {
    auto* self = static_cast<State*>(ctx);
    try {
      TraceEvent event = decode_trace_event(data, size);
      if (auto* blocked = std::get_if<TaskBlockedEvent>(&event);
          blocked && !blocked->stack.empty()) {
        self->symbols.refresh();
        for (auto& frame : blocked->stack) frame.symbol = self->symbols.describe(frame.address);
      }
      self->cancellations.saw(event);
      self->handler(event);
    } catch (...) {
      self->error = std::current_exception();
      return -ECANCELED;
    }
    return 0;
  }
};

TransitionTracer::TransitionTracer(Handler handler, const KernelPaths& paths, TracerOptions options)
    : state_(std::make_unique<State>(paths)) {
  require_bpf_tracing(paths);
  state_->handler = std::move(handler);
  try {
    state_->log = std::make_unique<KernelLog>();
  } catch (const std::exception&) {
    // Without the log only the probes report: all there is while ftrace is on.
  }
  const std::string name = "transition";
  if (!state_->skeleton) throw BpfError(describe_bpf_failure("cannot open", name, errno));
  for (bpf_program* per_task : {state_->skeleton->progs.klp_check_and_switch_task,
                                state_->skeleton->progs.klp_check_and_switch_task_exit,
                                state_->skeleton->progs.klp_try_complete_transition_exit}) {
    bpf_program__set_autoload(per_task, options.blocked_tasks);
  }
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
  // The log first, then what the probes wrote before it (their END of a transition precedes
  // its "failed to enable" record), then the log's records, and only then wait: events that
  // come while waiting belong with the next read of the log. Waiting before the records would
  // let the next transition's START of the same patch pass for the logged one's (see
  // LoggedCancellations).
  std::vector<KernelLogRecord> records;
  if (state_->log) records = state_->log->read_new();
  int n = 0;
  auto checked = [this](int got) {
    if (state_->error) std::rethrow_exception(std::exchange(state_->error, nullptr));
    if (got == -EINTR) return 0;
    if (got < 0) throw BpfError(describe_bpf_failure("polling", "transition", got));
    return got;
  };
  if (!records.empty()) n += checked(ring_buffer__consume(state_->events));
  for (const KernelLogRecord& record : records) {
    for (const TransitionEvent& event : state_->cancellations.from_log(record)) {
      state_->handler(event);
      ++n;
    }
  }
  n += checked(ring_buffer__poll(state_->events, static_cast<int>(timeout.count())));
  return n;
}

std::vector<TransitionTracer::Program> TransitionTracer::programs() const {
  std::vector<Program> loaded;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, state_->skeleton->obj) {
    const int fd = bpf_program__fd(prog);
    if (fd < 0) continue;
    // The section names the attach point: "fentry/klp_init_transition".
    const std::string_view section = bpf_program__section_name(prog);
    loaded.push_back({.name = bpf_program__name(prog),
                      .function = std::string(section.substr(section.find('/') + 1)),
                      .fd = fd});
  }
  return loaded;
}

}  // namespace lpmon::bpf
