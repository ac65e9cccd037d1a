#include "trace.hpp"

#include <time.h>

#include <csignal>
#include <cstdio>
#include <ctime>

#include <memory>
#include "command.hpp"
#include "lpmon/bpf/probe.hpp"
#include "lpmon/exit_codes.hpp"

namespace lpmon::cli {
namespace {

volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) {
  stop_requested = 1;
}

std::string clock_text(std::chrono::system_clock::time_point wall) {
  const auto since_epoch = wall.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::snprintf(text, sizeof text, "%02d:%02d:%02d.%03lld", local.tm_hour, local.tm_min,
                local.tm_sec, static_cast<long long>(millis));
  return text;
}

std::string iso8601_utc(std::chrono::system_clock::time_point wall) {
  const auto since_epoch = wall.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count() % 1000000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<long long>(micros));
  return text;
}

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

std::chrono::nanoseconds monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
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
  char line[256];
  const char* direction = event.patching ? "patching" : "unpatching";
  if (event.kind == bpf::TransitionKind::end) {
    std::snprintf(line, sizeof line, "%s %-24s %-8s %-11s %-9s %.3f s, %u round%s",
                  clock_text(wall).c_str(), event.patch.c_str(), "end", direction,
                  std::string(to_string(event.result)).c_str(), seconds(event.duration),
                  event.rounds, event.rounds == 1 ? "" : "s");
  } else {
    std::snprintf(line, sizeof line, "%s %-24s %-8s %s", clock_text(wall).c_str(),
                  event.patch.c_str(), std::string(to_string(event.kind)).c_str(), direction);
  }
  return line;
}

nlohmann::json transition_to_json(const bpf::TransitionEvent& event,
                                  std::chrono::system_clock::time_point wall) {
  nlohmann::json j{
      {"time", iso8601_utc(wall)}, {"monotonic_ns", event.timestamp.count()},
      {"type", "transition"},      {"event", to_string(event.kind)},
      {"patch", event.patch},      {"direction", event.patching ? "patching" : "unpatching"},
      {"rounds", event.rounds},
  };
  if (event.kind == bpf::TransitionKind::end) {
    j["result"] = to_string(event.result);
    j["duration_seconds"] = seconds(event.duration);
  }
  return j;
}

int run_trace(const TraceOptions& options, std::ostream& out, std::ostream& err) {
  bpf::set_libbpf_verbose(options.verbose);
  const ClockOffset clock = ClockOffset::now();
  std::uint64_t seen = 0;
  bpf::TransitionTracer tracer(
      [&](const bpf::TransitionEvent& event) {
        const auto wall = clock.wall(event.timestamp);
        if (options.json) {
          out << transition_to_json(event, wall).dump() << '\n';
        } else {
          out << format_transition_text(event, wall) << '\n';
        }
        out.flush();
        ++seen;
      },
      options.paths);

  stop_requested = 0;
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  // The line scripts wait for: from here on no transition is missed.
  err << "lpmon: tracing livepatch transitions; Ctrl-C to end\n";
  err.flush();

  const auto deadline = options.duration ? std::chrono::steady_clock::now() + *options.duration
                                         : std::chrono::steady_clock::time_point::max();
  while (!stop_requested && (!options.count || seen < *options.count) &&
         std::chrono::steady_clock::now() < deadline) {
    tracer.poll(std::chrono::milliseconds(100));
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return to_int(ExitCode::ok);
}

Command add_trace_command(CLI::App& lpmon) {
  auto options = std::make_shared<TraceOptions>();
  CLI::App* trace = lpmon.add_subcommand(
      "trace", "Stream livepatch transitions as the kernel makes them (BPF; needs root)");
  trace->add_flag("--json", options->json, "Print one JSON object per line");
  trace->add_option("--count", options->count, "Stop after N events")->type_name("N");
  trace
      ->add_option_function<double>(
          "--duration",
          [options](double s) {
            options->duration = std::chrono::milliseconds(static_cast<long>(s * 1000));
          },
          "Stop after this many seconds")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber);
  trace->add_flag("-v,--verbose", options->verbose, "Show libbpf's messages");
  add_kernel_root_options(*trace, options->paths, false);
  return {trace, [options](std::ostream& out, std::ostream& err) {
            return run_trace(*options, out, err);
          }};
}

}  // namespace lpmon::cli
