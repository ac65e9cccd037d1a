#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "lpmon/bpf/bpf_stats.hpp"
#include "lpmon/bpf/patched_calls.hpp"
#include "lpmon/kernel_paths.hpp"

namespace lpmon::cli {

struct CallsOptions {
  bool json = false;
  bool stats = false;  // BPF run time of lpmon's own programs
  std::chrono::milliseconds interval{1000};
  std::optional<std::uint64_t> count;  // stop after this many intervals
  std::vector<std::string> functions;  // only these; empty: every patched function
  // --patch: also the functions these module files replace, patched yet or not
  std::vector<std::string> patch_files;
  std::vector<bpf::FunctionId> also;  // what run_calls resolved patch_files to
  bpf::ProbeKind probe = bpf::ProbeKind::kprobe;
  bpf::Timing timing = bpf::kDefaultTiming;
  std::size_t max_functions = 16;
  bool verbose = false;    // libbpf's own messages
  bool histograms = true;  // text: each interval's latency histogram under its line
  // --profile: sample the CPUs for time in livepatch's redirection instead of counting calls
  // (whose probes would share the patched functions' ftrace sites and so change it)
  bool profile = false;
  unsigned frequency_hz = 99;
  KernelPaths paths;
};

// One function over one interval.
struct CallsSample {
  bpf::ObservedFunction function;  // counters since it was attached
  bpf::CallCounters delta;         // counters of the interval
  std::chrono::duration<double> interval{};
  std::vector<bpf::ProgramCost> costs;  // with --stats
};

// bcc funclatency's layout: a "nsec : count distribution" header, then one line per slot
// from the first to the last non-empty one, with a bar of up to 40 stars. Empty when the
// histogram is.
std::string format_histogram_text(const bpf::Log2Histogram& histogram);

// "16:02:03 lpmon_target_check_len [lpmon_target]: 1000 calls in 1.00 s (1000.0/s), 5000
// since attached, mean 512 ns (lpmon_fixes_v1, fentry)", then the interval's histogram and,
// with costs, one line per BPF program.
std::string format_calls_text(const CallsSample& sample,
                              std::chrono::system_clock::time_point wall);

// type "calls": cumulative "calls", "timed", "total_ns", the interval's "calls_delta",
// "calls_per_second" and "latency_ns" ({"low", "high", "count"} of non-empty slots), and
// "bpf_programs" with costs.
nlohmann::json calls_to_json(const CallsSample& sample, std::chrono::system_clock::time_point wall);

// What a refresh changed, one line or object per function, in this order: "detached",
// "attached" (a function whose module was loaded anew is both), "attach_failed",
// "over_limit". `observed` gives the probe kind of attached functions.
std::string format_refresh_text(const bpf::RefreshReport& report,
                                const std::vector<bpf::ObservedFunction>& observed,
                                std::size_t max_functions,
                                std::chrono::system_clock::time_point wall);
std::vector<nlohmann::json> refresh_to_json(const bpf::RefreshReport& report,
                                            const std::vector<bpf::ObservedFunction>& observed,
                                            std::chrono::system_clock::time_point wall);

// Counts the calls of patched functions and prints them an interval at a time, in text or
// JSON lines: lpmon calls, and lpmon trace --calls beside the transitions.
class CallsReporter {
 public:
  // Throws BpfError or LivepatchUnsupportedError; attaches nothing until refresh().
  CallsReporter(const CallsOptions& options, std::ostream& out);
  ~CallsReporter();
  CallsReporter(const CallsReporter&) = delete;
  CallsReporter& operator=(const CallsReporter&) = delete;

  // Attaches to newly patched functions and detaches from the others, printing what changed.
  void refresh();
  // Prints every observed function's calls since the last report (or since it was attached).
  void report();
  std::size_t observed() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Reports every interval until Ctrl-C or --count. Returns an exit code.
int run_calls(const CallsOptions& options, std::ostream& out, std::ostream& err);

}  // namespace lpmon::cli
