#include "trace.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <type_traits>
#include <variant>

#include "calls.hpp"
#include "command.hpp"
#include "live_view.hpp"
#include "lpmon/bpf/probe.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/util/clock.hpp"
#include "lpmon/util/text.hpp"

namespace lpmon::cli {
namespace {

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

// One indented line per frame: its symbol, or its address when unknown.
void append_stack(std::string& text, const std::vector<bpf::StackFrame>& stack, int stack_error) {
  if (stack_error) text += "\n    (no stack: " + std::string(std::strerror(stack_error)) + ")";
  for (const auto& frame : stack) {
    text += "\n    ";
    if (frame.symbol.empty()) {
      char address[24];
      std::snprintf(address, sizeof address, "0x%llx",
                    static_cast<unsigned long long>(frame.address));
      text += address;
    } else {
      text += frame.symbol;
    }
  }
}

nlohmann::json stack_to_json(const std::vector<bpf::StackFrame>& stack) {
  nlohmann::json frames = nlohmann::json::array();
  for (const auto& frame : stack) {
    char address[24];
    std::snprintf(address, sizeof address, "0x%llx",
                  static_cast<unsigned long long>(frame.address));
    frames.push_back(
        {{"address", address},
         {"symbol", frame.symbol.empty() ? nlohmann::json() : nlohmann::json(frame.symbol)}});
  }
  return frames;
}

}  // namespace

ClockOffset ClockOffset::now() {
  return {std::chrono::system_clock::now(), monotonic_now()};
}

std::chrono::system_clock::time_point ClockOffset::wall(std::chrono::nanoseconds monotonic) const {
  return wall_at_start + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             monotonic - monotonic_at_start);
}

std::string format_transition_text(const bpf::TransitionEvent& event,
                                   std::chrono::system_clock::time_point wall) {
  char line[320];
  const char* direction = event.patching ? "patching" : "unpatching";
  if (event.kind == bpf::TransitionKind::end) {
    std::snprintf(line, sizeof line, "%s %-24s %-8s %-11s %-9s %s%.3f s%s, %u round%s",
                  clock_text(wall, true).c_str(), event.patch.c_str(), "end", direction,
                  std::string(to_string(event.result)).c_str(),
                  event.began_before_trace ? "seen for " : "", seconds(event.duration),
                  event.began_before_trace ? " (began before tracing)" : "", event.rounds,
                  event.rounds == 1 ? "" : "s");
    // Kernels from 6.4 on also switch a task when it calls cond_resched().
    if (event.switched_at_cond_resched > 0) {
      const std::size_t used = std::strlen(line);
      std::snprintf(line + used, sizeof line - used, ", %u task%s switched at cond_resched",
                    event.switched_at_cond_resched, event.switched_at_cond_resched == 1 ? "" : "s");
    }
  } else {
    std::snprintf(line, sizeof line, "%s %-24s %-8s %s%s", clock_text(wall, true).c_str(),
                  event.patch.c_str(), std::string(to_string(event.kind)).c_str(), direction,
                  event.kind == bpf::TransitionKind::in_progress ? ", began before tracing" : "");
  }
  return line;
}

nlohmann::json transition_to_json(const bpf::TransitionEvent& event,
                                  std::chrono::system_clock::time_point wall) {
  nlohmann::json j{
      {"time", utc_timestamp(wall, 6)}, {"monotonic_ns", event.timestamp.count()},
      {"type", "transition"},           {"event", to_string(event.kind)},
      {"patch", event.patch},           {"direction", event.patching ? "patching" : "unpatching"},
      {"rounds", event.rounds},
  };
  if (event.began_before_trace) j["began_before_trace"] = true;
  if (event.kind == bpf::TransitionKind::end) {
    j["result"] = to_string(event.result);
    // A transition that began before tracing has no known duration, only how long it was seen.
    j[event.began_before_trace ? "seen_seconds" : "duration_seconds"] = seconds(event.duration);
    j["switched_at_cond_resched"] = event.switched_at_cond_resched;
  }
  return j;
}

std::string format_round_text(const bpf::RoundEvent& event,
                              std::chrono::system_clock::time_point wall) {
  char line[320];
  int n = std::snprintf(
      line, sizeof line,
      "%s %-24s %-8s %-11s round %u: %u blocked (%u sleeping in a function, %u running, %u "
      "unreliable stack",
      clock_text(wall, true).c_str(), event.patch.c_str(), "round",
      event.patching ? "patching" : "unpatching", event.round, event.blocked,
      event.sleeping_in_function, event.running, event.unreliable_stack);
  std::string text(line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1));
  if (event.other) text += ", " + std::to_string(event.other) + " other";
  text += "), " + std::to_string(event.switched) + " switched";
  if (event.unreported) text += "; " + std::to_string(event.unreported) + " not reported yet";
  return text;
}

nlohmann::json round_to_json(const bpf::RoundEvent& event,
                             std::chrono::system_clock::time_point wall) {
  nlohmann::json j{
      {"time", utc_timestamp(wall, 6)},
      {"monotonic_ns", event.timestamp.count()},
      {"type", "round"},
      {"patch", event.patch},
      {"direction", event.patching ? "patching" : "unpatching"},
      {"round", event.round},
      {"switched", event.switched},
      {"blocked", event.blocked},
      {"sleeping_in_function", event.sleeping_in_function},
      {"running", event.running},
      {"unreliable_stack", event.unreliable_stack},
      {"other", event.other},
      {"reported", event.reported},
      {"unreported", event.unreported},
  };
  if (event.began_before_trace) j["began_before_trace"] = true;
  return j;
}

std::string format_task_blocked_text(const bpf::TaskBlockedEvent& event,
                                     std::chrono::system_clock::time_point wall) {
  char line[320];
  std::snprintf(line, sizeof line, "%s %-24s %-8s %-11s ", clock_text(wall, true).c_str(),
                event.patch.c_str(), "blocked", event.patching ? "patching" : "unpatching");
  std::string text = line;
  text += "pid " + std::to_string(event.pid);
  if (event.tgid != event.pid) text += " (tgid " + std::to_string(event.tgid) + ")";
  text += " [" + text::printable(event.comm) + "]";
  if (event.kthread) text += " kthread";
  text += ", state ";
  text += event.state;
  text +=
      ", round " + std::to_string(event.round) + ": " + bpf::describe(event.reason, event.patching);
  if (!event.function.empty()) text += ": " + event.function;
  if (event.reason == bpf::BlockReason::other) {
    text += " (error " + std::to_string(event.error) + ")";
  }
  append_stack(text, event.stack, event.stack_error);
  return text;
}

nlohmann::json task_blocked_to_json(const bpf::TaskBlockedEvent& event,
                                    std::chrono::system_clock::time_point wall) {
  nlohmann::json j{
      {"time", utc_timestamp(wall, 6)},
      {"monotonic_ns", event.timestamp.count()},
      {"type", "task_blocked"},
      {"patch", event.patch},
      {"direction", event.patching ? "patching" : "unpatching"},
      {"round", event.round},
      {"pid", event.pid},
      {"tgid", event.tgid},
      {"comm", text::valid_utf8(event.comm)},
      {"kthread", event.kthread},
      {"state", std::string(1, event.state)},
      {"reason", to_string(event.reason)},
      {"reason_text", bpf::describe(event.reason, event.patching)},
      {"error", event.error},
      {"function", event.function.empty() ? nlohmann::json() : nlohmann::json(event.function)},
      {"stack", stack_to_json(event.stack)},
  };
  if (event.stack_error) j["stack_error"] = std::strerror(event.stack_error);
  return j;
}

int scan_target(const std::vector<LivepatchPatch>& patches) {
  for (const auto& patch : patches) {
    // klp flips enabled with the direction: it names the target while in transition.
    if (patch.transition) return patch.enabled ? kTaskPatched : kTaskUnpatched;
  }
  return kTaskPatchIdle;
}

std::string_view patch_state_name(int patch_state) {
  switch (patch_state) {
    case kTaskPatchIdle:
      return "idle";
    case kTaskUnpatched:
      return "unpatched";
    case kTaskPatched:
      return "patched";
  }
  return "unknown";
}

std::string format_task_scan_text(const bpf::TaskStateScan& scan, int target_state,
                                  std::string_view transition_patch) {
  std::string text = std::to_string(scan.total()) + " tasks: " + std::to_string(scan.patched) +
                     " patched, " + std::to_string(scan.unpatched) + " unpatched, " +
                     std::to_string(scan.idle) + " idle";
  if (scan.other) text += ", " + std::to_string(scan.other) + " in an unknown state";
  if (!scan.patch_state_available) {
    return text + " (this kernel's tasks have no patch_state: CONFIG_LIVEPATCH is off)";
  }
  if (transition_patch.empty()) return text + "; no transition in progress";
  text += "; " + std::to_string(scan.not_at_target.size()) + " not " +
          std::string(patch_state_name(target_state)) + " yet (" + std::string(transition_patch) +
          " in transition)";
  if (!scan.not_at_target.empty()) text += ':';
  for (const auto& task : scan.not_at_target) {
    text += "\npid " + std::to_string(task.pid);
    if (task.tgid != task.pid) text += " (tgid " + std::to_string(task.tgid) + ")";
    text += " [" + text::printable(task.comm) + "]";
    if (task.kthread) text += " kthread";
    text += ", " + std::string(patch_state_name(task.patch_state));
    if (task.on_cpu) text += ", running (its stack was moving)";
    append_stack(text, task.stack, task.stack_error);
  }
  return text;
}

nlohmann::json task_scan_to_json(const bpf::TaskStateScan& scan, int target_state,
                                 std::string_view transition_patch) {
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& task : scan.not_at_target) {
    nlohmann::json t{
        {"pid", task.pid},
        {"tgid", task.tgid},
        {"comm", text::valid_utf8(task.comm)},
        {"kthread", task.kthread},
        {"on_cpu", task.on_cpu},
        {"patch_state", patch_state_name(task.patch_state)},
        {"stack", stack_to_json(task.stack)},
    };
    if (task.stack_error) t["stack_error"] = std::strerror(task.stack_error);
    tasks.push_back(std::move(t));
  }
  return {
      {"type", "task_scan"},
      {"patch_state_available", scan.patch_state_available},
      {"transition_patch",
       transition_patch.empty() ? nlohmann::json() : nlohmann::json(transition_patch)},
      {"target", patch_state_name(target_state)},
      {"total", scan.total()},
      {"idle", scan.idle},
      {"unpatched", scan.unpatched},
      {"patched", scan.patched},
      {"other", scan.other},
      {"not_at_target", std::move(tasks)},
  };
}

std::string format_event_text(const bpf::TraceEvent& event, const ClockOffset& clock) {
  return std::visit(
      [&](const auto& e) -> std::string {
        using Event = std::decay_t<decltype(e)>;
        const auto wall = clock.wall(e.timestamp);
        if constexpr (std::is_same_v<Event, bpf::TransitionEvent>) {
          return format_transition_text(e, wall);
        } else if constexpr (std::is_same_v<Event, bpf::RoundEvent>) {
          return format_round_text(e, wall);
        } else {
          return format_task_blocked_text(e, wall);
        }
      },
      event);
}

nlohmann::json event_to_json(const bpf::TraceEvent& event, const ClockOffset& clock) {
  return std::visit(
      [&](const auto& e) -> nlohmann::json {
        using Event = std::decay_t<decltype(e)>;
        const auto wall = clock.wall(e.timestamp);
        if constexpr (std::is_same_v<Event, bpf::TransitionEvent>) {
          return transition_to_json(e, wall);
        } else if constexpr (std::is_same_v<Event, bpf::RoundEvent>) {
          return round_to_json(e, wall);
        } else {
          return task_blocked_to_json(e, wall);
        }
      },
      event);
}

namespace {

int run_scan(const TraceOptions& options, std::ostream& out) {
  const auto patches = read_patches(options.paths);
  const int target = scan_target(patches);
  std::string transition_patch;
  for (const auto& patch : patches) {
    if (patch.transition) transition_patch = patch.name;
  }
  bpf::TaskStateScanner scanner(options.paths);
  const bpf::TaskStateScan scan = scanner.scan(target);
  if (options.json) {
    out << task_scan_to_json(scan, target, transition_patch).dump() << '\n';
  } else {
    out << format_task_scan_text(scan, target, transition_patch) << '\n';
  }
  return to_int(ExitCode::ok);
}

}  // namespace

int run_trace(const TraceOptions& options, std::ostream& out, std::ostream& err) {
  bpf::set_libbpf_verbose(options.verbose);
  if (options.scan) return run_scan(options, out);
  const ClockOffset clock = ClockOffset::now();
  std::uint64_t seen = 0;
  bpf::TransitionTracer tracer(
      [&](const bpf::TraceEvent& event) {
        if (options.json) {
          out << event_to_json(event, clock).dump() << '\n';
        } else {
          out << format_event_text(event, clock) << '\n';
        }
        out.flush();
        ++seen;
      },
      options.paths, {.blocked_tasks = options.tasks});

  // Calls are counted beside the transitions, reported once a second.
  std::unique_ptr<CallsReporter> calls;
  if (options.calls) {
    CallsOptions calls_options;
    calls_options.json = options.json;
    calls_options.histograms = false;
    calls_options.paths = options.paths;
    calls = std::make_unique<CallsReporter>(calls_options, out);
    calls->refresh();
  }
  auto next_calls = std::chrono::steady_clock::now() + std::chrono::seconds(1);

  stop_on_signals();
  // The line scripts wait for: from here on no transition is missed.
  err << (options.tasks ? "lpmon: tracing livepatch transitions and the tasks that block them; "
                          "Ctrl-C to end\n"
                        : "lpmon: tracing livepatch transitions; Ctrl-C to end\n");
  err.flush();

  const auto deadline = options.duration ? std::chrono::steady_clock::now() + *options.duration
                                         : std::chrono::steady_clock::time_point::max();
  while (!stop_requested() && (!options.count || seen < *options.count) &&
         std::chrono::steady_clock::now() < deadline) {
    tracer.poll(std::chrono::milliseconds(100));
    if (calls && std::chrono::steady_clock::now() >= next_calls) {
      // Rates first, then any function a transition just patched or unpatched.
      calls->report();
      calls->refresh();
      next_calls += std::chrono::seconds(1);
    }
  }
  restore_default_signals();
  return to_int(ExitCode::ok);
}

Command add_trace_command(CLI::App& lpmon) {
  auto options = std::make_shared<TraceOptions>();
  CLI::App* trace = lpmon.add_subcommand(
      "trace", "Stream livepatch transitions as the kernel makes them (BPF; needs root)");
  trace->add_flag("--json", options->json, "Print one JSON object per line");
  CLI::Option* tasks = trace->add_flag(
      "--tasks", options->tasks,
      "Also show the tasks that hold a transition up (why, and where: kernel stack) and a "
      "summary of each klp round that left some");
  CLI::Option* count =
      trace->add_option("--count", options->count, "Stop after N events")->type_name("N");
  CLI::Option* duration = trace
                              ->add_option_function<double>(
                                  "--duration",
                                  [options](double s) {
                                    options->duration =
                                        std::chrono::milliseconds(static_cast<long>(s * 1000));
                                  },
                                  "Stop after this many seconds")
                              ->type_name("SECONDS")
                              ->check(CLI::PositiveNumber);
  trace
      ->add_flag("--scan", options->scan,
                 "Instead of tracing: read every task's patch state once (BPF task iterator) "
                 "and list the tasks not yet at the target of the transition in progress, with "
                 "their kernel stacks")
      ->excludes(tasks)
      ->excludes(count)
      ->excludes(duration);
  trace
      ->add_flag("--calls", options->calls,
                 "Also count the calls of every patched function and show their rate and mean "
                 "latency each second (as lpmon calls, in its default mode)")
      ->excludes("--scan");
  trace->add_flag("-v,--verbose", options->verbose, "Show libbpf's messages");
  add_kernel_root_options(*trace, options->paths, false);
  trace->footer(
      "Durations run from the kernel's klp_init_transition to klp_complete_transition: the "
      "patch's setup (pre-patch callbacks, ftrace registration), klp's first try and every "
      "retry (about 1 s apart); not the post-patch callbacks. Observing shifts them: a "
      "transition often waits for a retry only because an idle CPU's idle task could not be "
      "checked, and other activity on the machine, the tracer's own included, can spare it "
      "(BENCHMARKS.md: what observing does to transition durations).");
  return {trace, [options](std::ostream& out, std::ostream& err) {
            return run_trace(*options, out, err);
          }};
}

}  // namespace lpmon::cli
