#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lpmon/bpf/task_state.hpp"
#include "lpmon/kernel_paths.hpp"

namespace lpmon::bpf {

// in_progress: the first sight of a transition that began before the tracer attached.
enum class TransitionKind { start, reverse, end, in_progress };

enum class TransitionResult { none, complete, reversed, cancelled, forced };

// A transition's start, reversal or end, from bpf/transition.bpf.c.
struct TransitionEvent {
  std::chrono::nanoseconds timestamp{};  // CLOCK_MONOTONIC
  // end events: since the start event, or since in_progress when began_before_trace
  std::chrono::nanoseconds duration{};
  TransitionKind kind = TransitionKind::start;
  bool patching = true;  // target state after any reversal: patched (true) or unpatched
  TransitionResult result = TransitionResult::none;
  std::uint32_t rounds = 0;  // klp_try_complete_transition calls so far (seen, if began before)
  bool began_before_trace = false;
  // end events: tasks that switched themselves at cond_resched (6.4+), outside the rounds
  std::uint32_t switched_at_cond_resched = 0;
  std::string patch;
};

// Why klp could not switch a task (klp_check_and_switch_task's error in 6.1).
enum class BlockReason {
  running,               // -EBUSY: on a CPU, its stack cannot be checked
  unreliable_stack,      // -EINVAL
  sleeping_in_function,  // -EADDRINUSE: a to-be-(un)patched function is on its stack
  other,                 // any other error
};

// A task that failed to switch: sent the first time it fails for a reason within a
// transition's direction (a task that stays blocked is counted in every RoundEvent instead).
struct TaskBlockedEvent {
  std::chrono::nanoseconds timestamp{};
  std::string patch;
  bool patching = true;
  std::uint32_t round = 0;
  BlockReason reason = BlockReason::other;
  int error = 0;  // klp's negative errno
  pid_t pid = 0;  // the task's own id (a thread id)
  pid_t tgid = 0;
  std::string comm;
  bool kthread = false;
  char state = '?';               // as ps shows it: R, S, D, I, ...
  std::string function;           // sleeping_in_function: the function klp found on the stack
  int stack_error = 0;            // errno when the stack could not be read
  std::vector<StackFrame> stack;  // innermost first; empty for running tasks
};

// The end of a klp round that left tasks unswitched; klp retries about once a second.
struct RoundEvent {
  std::chrono::nanoseconds timestamp{};
  std::string patch;
  bool patching = true;
  std::uint32_t round = 0;
  bool began_before_trace = false;  // rounds count from when the tracer attached
  std::uint32_t switched = 0;       // tasks switched in this round
  std::uint32_t blocked = 0;        // tasks that failed to switch in this round, by reason:
  std::uint32_t running = 0;
  std::uint32_t unreliable_stack = 0;
  std::uint32_t sleeping_in_function = 0;
  std::uint32_t other = 0;
  std::uint32_t reported = 0;    // TaskBlockedEvents sent in this round
  std::uint32_t unreported = 0;  // tasks due one that did not get it yet (rate cap, full buffer)
};

using TraceEvent = std::variant<TransitionEvent, RoundEvent, TaskBlockedEvent>;

std::string_view to_string(TransitionKind kind);
std::string_view to_string(TransitionResult result);
// "running", "unreliable_stack", "sleeping_in_function", "other"
std::string_view to_string(BlockReason reason);
// "sleeping in a to-be-patched function" and so on, for people.
std::string describe(BlockReason reason, bool patching);

// The letter ps shows for a task_struct->__state value (fs/proc/array.c, 6.1).
char task_state_letter(std::uint32_t state);

// Decodes one ring-buffer record, stacks not yet symbolized. Throws BpfError when the record is
// not one of the types and sizes this build knows (a BPF object from another build).
TraceEvent decode_trace_event(const void* data, std::size_t size);

struct TracerOptions {
  // Also RoundEvents and TaskBlockedEvents. Off, the per-task probe is not even attached: it
  // runs for every unswitched task in every round, under that task's runqueue lock.
  bool blocked_tasks = false;
};

// Loads and attaches bpf/transition.bpf.c (fentry and return probes on the klp transition
// functions; no fexit, whose frames would fail klp's stack check of the task running a round)
// and delivers its events, in the order the kernel made them, with stacks symbolized from
// /proc/kallsyms. Attaching costs about 0.35 s per program under TCG.
class TransitionTracer {
 public:
  using Handler = std::function<void(const TraceEvent&)>;

  // One of the tracer's loaded BPF programs: its name, the kernel function it is attached
  // to, and its fd for program_cost() (lpmon/bpf/bpf_stats.hpp), valid while the tracer lives.
  struct Program {
    std::string name;
    std::string function;
    int fd = -1;
  };

  // Throws BpfError or LivepatchUnsupportedError with a message meant for the user.
  explicit TransitionTracer(Handler handler, const KernelPaths& paths = {},
                            TracerOptions options = {});
  ~TransitionTracer();
  TransitionTracer(const TransitionTracer&) = delete;
  TransitionTracer& operator=(const TransitionTracer&) = delete;

  // Waits up to `timeout` for events and hands each to the handler. Returns how many were
  // handled; throws BpfError on a ring-buffer failure other than EINTR.
  int poll(std::chrono::milliseconds timeout);

  // The loaded programs, in the BPF object's order (those options left out are not loaded).
  std::vector<Program> programs() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lpmon::bpf
