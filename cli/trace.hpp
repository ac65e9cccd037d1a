#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "lpmon/bpf/task_state.hpp"
#include "lpmon/bpf/transition_tracer.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::cli {

struct TraceOptions {
  bool json = false;
  bool tasks = false;  // also the tasks that hold a transition up, and each failed round
  bool scan = false;   // instead: every task's patch state, read once
  bool calls = false;  // also the calls of every patched function, each second
  std::optional<std::uint64_t> count;                 // stop after this many events
  std::optional<std::chrono::milliseconds> duration;  // stop after this long
  bool verbose = false;                               // libbpf's own messages
  KernelPaths paths;
};

// Converts the tracer's CLOCK_MONOTONIC timestamps to wall-clock time.
struct ClockOffset {
  std::chrono::system_clock::time_point wall_at_start;
  std::chrono::nanoseconds monotonic_at_start;

  static ClockOffset now();
  std::chrono::system_clock::time_point wall(std::chrono::nanoseconds monotonic) const;
};

// One line per event, aligned like bcc's tools:
// "16:02:03.123 lpmon_sample   end      patching    complete  1.003 s, 2 rounds".
std::string format_transition_text(const bpf::TransitionEvent& event,
                                   std::chrono::system_clock::time_point wall);

nlohmann::json transition_to_json(const bpf::TransitionEvent& event,
                                  std::chrono::system_clock::time_point wall);

// "16:02:04.130 lpmon_fixes_v2   round    patching    round 2: 3 blocked (3 sleeping in a
// function, 0 running, 0 unreliable stack), 1 switched".
std::string format_round_text(const bpf::RoundEvent& event,
                              std::chrono::system_clock::time_point wall);

nlohmann::json round_to_json(const bpf::RoundEvent& event,
                             std::chrono::system_clock::time_point wall);

// A header line, then one indented line per stack frame:
// "16:02:03.125 lpmon_fixes_v2   blocked  patching    pid 97 [lpmon_park/0] kthread, state I,
// round 1: sleeping in a to-be-patched function: lpmon_target_wait_released"
// "    lpmon_target_wait_released+0x4b [lpmon_target]".
std::string format_task_blocked_text(const bpf::TaskBlockedEvent& event,
                                     std::chrono::system_clock::time_point wall);

// type "task_blocked"; "stack" lists {"address": "0x...", "symbol": "func+0x4b [module]"}.
nlohmann::json task_blocked_to_json(const bpf::TaskBlockedEvent& event,
                                    std::chrono::system_clock::time_point wall);

// One of the above, by the event's type.
std::string format_event_text(const bpf::TraceEvent& event, const ClockOffset& clock);
nlohmann::json event_to_json(const bpf::TraceEvent& event, const ClockOffset& clock);

// --scan: the state a task scan compares against: the target of the transition in progress,
// else idle (kTaskPatch*).
int scan_target(const std::vector<LivepatchPatch>& patches);

// "idle", "unpatched" or "patched".
std::string_view patch_state_name(int patch_state);

// "75 tasks: 72 patched, 3 unpatched, 0 idle; 3 not patched yet (lpmon_fixes_v2 in
// transition):", then per task a line and its indented stack, as format_task_blocked_text.
std::string format_task_scan_text(const bpf::TaskStateScan& scan, int target_state,
                                  std::string_view transition_patch);

// type "task_scan": the counts, the target, and "not_at_target" with each task's stack.
nlohmann::json task_scan_to_json(const bpf::TaskStateScan& scan, int target_state,
                                 std::string_view transition_patch);

// Streams transitions until Ctrl-C, --count or --duration, or with --scan prints one scan.
// Returns an exit code.
int run_trace(const TraceOptions& options, std::ostream& out, std::ostream& err);

}  // namespace lpmon::cli
