#include "calls.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <thread>

#include "command.hpp"
#include "live_view.hpp"
#include "lpmon/bpf/probe.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon/util/clock.hpp"
#include "profile.hpp"

namespace lpmon::cli {
namespace {

using nlohmann::json;

constexpr int kBarWidth = 40;

double per_second(std::uint64_t n, std::chrono::duration<double> interval) {
  return interval.count() > 0 ? static_cast<double>(n) / interval.count() : 0.0;
}

json function_fields(const bpf::FunctionId& id) {
  return {{"object", id.object}, {"function", id.name}, {"sympos", id.sympos}};
}

const bpf::ObservedFunction* find_observed(const std::vector<bpf::ObservedFunction>& observed,
                                           const bpf::FunctionId& id) {
  auto it = std::find_if(observed.begin(), observed.end(),
                         [&](const bpf::ObservedFunction& f) { return f.function == id; });
  return it == observed.end() ? nullptr : &*it;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

}  // namespace

std::string format_histogram_text(const bpf::Log2Histogram& histogram) {
  const auto& slots = histogram.slots;
  const auto nonzero = [](std::uint64_t v) { return v != 0; };
  const auto first = std::find_if(slots.begin(), slots.end(), nonzero);
  if (first == slots.end()) return {};
  const auto last = std::find_if(slots.rbegin(), slots.rend(), nonzero).base();
  const std::uint64_t max = *std::max_element(first, last);

  std::string text = "              nsec            : count     distribution\n";
  for (auto it = first; it != last; ++it) {
    const auto i = static_cast<std::size_t>(it - slots.begin());
    const int stars = static_cast<int>(*it * kBarWidth / max);
    const std::string high = i + 1 == bpf::Log2Histogram::kSlots
                                 ? "inf"
                                 : std::to_string(bpf::Log2Histogram::slot_high(i));
    char line[160];
    std::snprintf(line, sizeof line, "%14llu -> %-12s : %-9llu |%s%s|\n",
                  static_cast<unsigned long long>(bpf::Log2Histogram::slot_low(i)), high.c_str(),
                  static_cast<unsigned long long>(*it), std::string(stars, '*').c_str(),
                  std::string(kBarWidth - stars, ' ').c_str());
    text += line;
  }
  return text;
}

std::string format_calls_text(const CallsSample& sample,
                              std::chrono::system_clock::time_point wall) {
  const bpf::ObservedFunction& f = sample.function;
  char line[512];
  std::snprintf(line, sizeof line, "%s %s: %llu calls in %.2f s (%.1f/s), %llu since attached",
                clock_text(wall).c_str(), to_string(f.function).c_str(),
                static_cast<unsigned long long>(sample.delta.calls), sample.interval.count(),
                per_second(sample.delta.calls, sample.interval),
                static_cast<unsigned long long>(f.counters.calls));
  std::string text = line;
  if (sample.delta.timed) {
    text += ", mean " + std::to_string(sample.delta.total_ns / sample.delta.timed) + " ns";
    if (f.timing.every > 1) text += " of " + std::to_string(sample.delta.timed) + " timed";
  }
  text += " (" + join(f.patches) + "; " + std::string(to_string(f.probe)) + ", " +
          to_string(f.timing) + ")\n";
  text += format_histogram_text(sample.delta.latency);
  for (const bpf::ProgramCost& cost : sample.costs) {
    std::snprintf(line, sizeof line, "    bpf %-15s id %-6u %llu runs, %.0f ns/run, %llu missed\n",
                  cost.name.c_str(), cost.id, static_cast<unsigned long long>(cost.run_count),
                  cost.ns_per_run(), static_cast<unsigned long long>(cost.recursion_misses));
    text += line;
  }
  return text;
}

json calls_to_json(const CallsSample& sample, std::chrono::system_clock::time_point wall) {
  const bpf::ObservedFunction& f = sample.function;
  json j = function_fields(f.function);
  j.update({
      {"type", "calls"},
      {"time", utc_timestamp(wall)},
      {"patches", f.patches},
      {"probe", to_string(f.probe)},
      {"mode", bpf::mode_name(f.timing)},
      {"sample_every", f.timing.every},
      {"calls", f.counters.calls},
      {"timed", f.counters.timed},
      {"total_ns", f.counters.total_ns},
      {"interval_seconds", sample.interval.count()},
      {"calls_delta", sample.delta.calls},
      {"calls_per_second", per_second(sample.delta.calls, sample.interval)},
  });
  json latency = json::array();
  for (std::size_t i = 0; i < bpf::Log2Histogram::kSlots; ++i) {
    if (const auto n = sample.delta.latency.slots[i]) {
      latency.push_back({{"low", bpf::Log2Histogram::slot_low(i)},
                         {"high", bpf::Log2Histogram::slot_high(i)},
                         {"count", n}});
    }
  }
  j["latency_ns"] = std::move(latency);
  if (!f.fallback_reason.empty()) j["fallback_reason"] = f.fallback_reason;
  if (!sample.costs.empty()) {
    json programs = json::array();
    for (const bpf::ProgramCost& cost : sample.costs) {
      programs.push_back({{"name", cost.name},
                          {"id", cost.id},
                          {"run_count", cost.run_count},
                          {"run_time_ns", cost.run_time.count()},
                          {"ns_per_run", cost.ns_per_run()},
                          {"recursion_misses", cost.recursion_misses}});
    }
    j["bpf_programs"] = std::move(programs);
  }
  return j;
}

std::string format_refresh_text(const bpf::RefreshReport& report,
                                const std::vector<bpf::ObservedFunction>& observed,
                                std::size_t max_functions,
                                std::chrono::system_clock::time_point wall) {
  const std::string when = clock_text(wall) + " ";
  std::string text;
  for (const auto& id : report.detached) {
    text += when + "stopped observing " + to_string(id) + " (unpatched, or its module went)\n";
  }
  for (const auto& id : report.attached) {
    text += when + "observing " + to_string(id);
    if (const auto* f = find_observed(observed, id)) {
      text += " with " + std::string(to_string(f->probe));
      if (!f->fallback_reason.empty()) text += " (" + f->fallback_reason + ")";
    }
    text += "\n";
  }
  for (const auto& [id, error] : report.failed) {
    text += when + "cannot observe " + to_string(id) + ": " + error + "\n";
  }
  for (const auto& id : report.over_limit) {
    text += when + "not observing " + to_string(id) + ": already observing " +
            std::to_string(max_functions) + " functions (--max-functions)\n";
  }
  return text;
}

std::vector<json> refresh_to_json(const bpf::RefreshReport& report,
                                  const std::vector<bpf::ObservedFunction>& observed,
                                  std::chrono::system_clock::time_point wall) {
  std::vector<json> events;
  auto event = [&](std::string_view type, const bpf::FunctionId& id) -> json& {
    json j = function_fields(id);
    j["type"] = type;
    j["time"] = utc_timestamp(wall);
    return events.emplace_back(std::move(j));
  };
  for (const auto& id : report.detached) event("detached", id);
  for (const auto& id : report.attached) {
    json& j = event("attached", id);
    if (const auto* f = find_observed(observed, id)) {
      j["probe"] = to_string(f->probe);
      if (!f->fallback_reason.empty()) j["fallback_reason"] = f->fallback_reason;
    }
  }
  for (const auto& [id, error] : report.failed) event("attach_failed", id)["error"] = error;
  for (const auto& id : report.over_limit) event("over_limit", id);
  return events;
}

struct CallsReporter::State {
  using Clock = std::chrono::steady_clock;
  State(const CallsOptions& o, std::ostream& stream)
      : options(o),
        out(stream),
        calls({.paths = o.paths,
               .probe = o.probe,
               .timing = o.timing,
               .only = o.functions,
               .max_functions = o.max_functions,
               .also = o.also}) {}

  CallsOptions options;
  std::ostream& out;
  bpf::PatchedCalls calls;
  // The counters each function had at the end of the last interval.
  std::map<bpf::FunctionId, std::pair<bpf::CallCounters, Clock::time_point>> last;
};

CallsReporter::CallsReporter(const CallsOptions& options, std::ostream& out)
    : state_(std::make_unique<State>(options, out)) {}

CallsReporter::~CallsReporter() = default;

std::size_t CallsReporter::observed() const {
  return state_->last.size();
}

void CallsReporter::refresh() {
  State& s = *state_;
  const bpf::RefreshReport report = s.calls.refresh();
  if (report.empty()) return;
  const auto observed = s.calls.read();
  const auto wall = std::chrono::system_clock::now();
  for (const auto& id : report.detached) s.last.erase(id);
  for (const auto& id : report.attached) {
    if (const auto* f = find_observed(observed, id)) s.last[id] = {{}, f->attached_at};
  }
  if (s.options.json) {
    for (const json& j : refresh_to_json(report, observed, wall)) s.out << j.dump() << '\n';
  } else {
    s.out << format_refresh_text(report, observed, s.options.max_functions, wall);
  }
  s.out.flush();
}

void CallsReporter::report() {
  State& s = *state_;
  const State::Clock::time_point now = State::Clock::now();
  const auto wall = std::chrono::system_clock::now();
  for (bpf::ObservedFunction& f : s.calls.read()) {
    auto& [before, since] = s.last[f.function];
    CallsSample sample;
    sample.delta = f.counters.since(before);
    sample.interval = now - since;
    if (s.options.stats) {
      for (int fd : f.program_fds) sample.costs.push_back(bpf::program_cost(fd));
    }
    before = f.counters;
    since = now;
    sample.function = std::move(f);
    if (s.options.json) {
      s.out << calls_to_json(sample, wall).dump() << '\n';
    } else {
      std::string text = format_calls_text(sample, wall);
      if (!s.options.histograms) text = text.substr(0, text.find('\n') + 1);
      s.out << text;
    }
  }
  s.out.flush();
}

// The functions a patch module replaces, named as sysfs names them (sympos 0 is 1 there).
static std::vector<bpf::FunctionId> functions_of_patch(const std::string& file,
                                                       const KernelPaths& paths) {
  ModuleInspector inspector({.kernel_btf = std::nullopt, .paths = paths});
  const ModuleInfo module = inspector.inspect(file);
  if (!module.patch.objects) {
    throw ModuleFileError(
        ModuleFileProblem::corrupt,
        file + ": cannot tell which functions it replaces: " + module.patch.elf_unknown_reason);
  }
  std::vector<bpf::FunctionId> functions;
  for (const PatchedObject& object : *module.patch.objects) {
    for (const PatchedFunction& f : object.functions) {
      functions.push_back({object.name, f.name, f.sympos == 0 ? 1 : f.sympos});
    }
  }
  return functions;
}

int run_calls(const CallsOptions& given, std::ostream& out, std::ostream& err) {
  if (given.profile) {
    return run_profile({.json = given.json,
                        .interval = given.interval,
                        .count = given.count,
                        .frequency_hz = given.frequency_hz,
                        .verbose = given.verbose,
                        .paths = given.paths},
                       out, err);
  }
  CallsOptions options = given;
  for (const std::string& file : options.patch_files) {
    try {
      for (auto& f : functions_of_patch(file, options.paths)) options.also.push_back(std::move(f));
    } catch (const ModuleFileError& error) {
      err << "lpmon calls: " << error.what() << '\n';
      return to_int(ExitCode::invalid_input);
    }
  }
  bpf::set_libbpf_verbose(options.verbose);
  CallsReporter reporter(options, out);
  std::optional<bpf::RunTimeStats> run_time_stats;
  if (options.stats) run_time_stats.emplace();

  stop_on_signals();

  reporter.refresh();
  // The line scripts wait for: every patched function found so far is being counted.
  err << "lpmon: counting calls of " << reporter.observed() << " patched function"
      << (reporter.observed() == 1 ? "" : "s") << "; Ctrl-C to end\n";
  err.flush();

  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  for (std::uint64_t reported = 0; !options.count || reported < *options.count; ++reported) {
    const Clock::time_point tick = start + options.interval * (reported + 1);
    while (!stop_requested() && Clock::now() < tick) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(tick - Clock::now(), std::chrono::milliseconds(50)));
    }
    // Ctrl-C ends with the partial interval, as funclatency does.
    reporter.report();
    if (stop_requested()) break;
    reporter.refresh();
  }
  restore_default_signals();
  return to_int(ExitCode::ok);
}

Command add_calls_command(CLI::App& lpmon) {
  auto options = std::make_shared<CallsOptions>();
  CLI::App* calls = lpmon.add_subcommand(
      "calls",
      "Count the calls of patched functions and their latency, in the kernel (BPF; needs root)");
  calls->footer(
      "Probes sit on the original functions, which livepatch redirects to the replacement in "
      "force, so counting goes on across an atomic replace. --mode count only counts: one entry "
      "probe, no clock read. --mode sampled times 1 call in N per CPU, "
      "--mode full every call: each adds an exit probe (kretprobe or fexit) to every call, "
      "and full a clock read at each end. What each mode adds to a call: BENCHMARKS.md. "
      "fexit: a task asleep in an observed function stalls every livepatch transition until "
      "it returns (its stack shows a trampoline frame); kretprobes do not.");
  calls->add_flag("--json", options->json, "Print one JSON object per line");
  calls
      ->add_option_function<double>(
          "--interval",
          [options](double s) {
            options->interval = std::chrono::milliseconds(static_cast<long>(s * 1000));
          },
          "Report every this many seconds (default 1)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.01, 86400.0));
  calls->add_option("--count", options->count, "Stop after N reports")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  calls->add_option("--function", options->functions, "Observe only this function (repeatable)")
      ->type_name("NAME");
  calls
      ->add_option("--patch", options->patch_files,
                   "Also observe the functions this livepatch module replaces, before it is "
                   "loaded too: a baseline of their unpatched cost (repeatable)")
      ->type_name("PATCH.ko");
  calls
      ->add_option_function<std::string>(
          "--probe",
          [options](const std::string& kind) {
            options->probe = kind == "fentry" ? bpf::ProbeKind::fentry : bpf::ProbeKind::kprobe;
          },
          "kprobe (default) or fentry; the other where it cannot attach")
      ->type_name("KIND")
      ->check(CLI::IsMember({"kprobe", "fentry"}).description(""));
  auto mode = std::make_shared<std::string>(bpf::mode_name(bpf::kDefaultTiming));
  auto every = std::make_shared<std::uint32_t>(bpf::kDefaultSampleEvery);
  calls
      ->add_option("--mode", *mode,
                   "count, sampled or full: which calls are timed (default " + *mode + ")")
      ->type_name("MODE")
      ->check(CLI::IsMember({"count", "sampled", "full"}).description(""));
  calls
      ->add_option("--sample-every", *every,
                   "With --mode sampled: time 1 call in N on each CPU (default " +
                       std::to_string(bpf::kDefaultSampleEvery) + ")")
      ->type_name("N")
      ->check(CLI::Range(2u, 1u << 30));
  calls->final_callback(
      [options, mode, every] { options->timing = *bpf::timing_of_mode(*mode, *every); });
  calls
      ->add_option("--max-functions", options->max_functions,
                   "Observe at most N functions (default 16)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  calls->add_flag("--stats", options->stats,
                  "Also report the run count and run time of lpmon's BPF programs");
  calls->add_flag("--profile", options->profile,
                  "Instead of counting calls, sample every CPU on its clock and show the CPU time "
                  "spent in livepatch's redirection per patched function (ftrace's entry, "
                  "klp_ftrace_handler, trampolines) and in each patch module function, with "
                  "binomial error bars; no probe on the patched functions");
  calls
      ->add_option("--frequency", options->frequency_hz,
                   "With --profile: samples per second and CPU (default 99)")
      ->type_name("HZ")
      ->check(CLI::Range(1u, 10000u));
  calls->add_flag("-v,--verbose", options->verbose, "Show libbpf's messages");
  add_kernel_root_options(*calls, options->paths);
  return {calls, [options](std::ostream& out, std::ostream& err) {
            return run_calls(*options, out, err);
          }};
}

}  // namespace lpmon::cli
