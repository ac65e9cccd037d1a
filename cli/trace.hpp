#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "lpmon/bpf/transition_tracer.hpp"
#include "lpmon/kernel_paths.hpp"

namespace lpmon::cli {

struct TraceOptions {
  bool json = false;
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

// Streams transitions until Ctrl-C, --count or --duration. Returns an exit code.
int run_trace(const TraceOptions& options, std::ostream& out, std::ostream& err);

}  // namespace lpmon::cli
