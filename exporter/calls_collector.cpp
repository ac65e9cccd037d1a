#include "calls_collector.hpp"

#include <exception>
#include <limits>

#include "log.hpp"
#include "merged_collector.hpp"

namespace lpmon::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::vector<ClientMetric::Label> function_labels(const bpf::FunctionId& f) {
  return {{"object", f.object}, {"function", f.name}};
}

}  // namespace

CallsCollector::CallsCollector(const KernelPaths& paths, bool bpf_stats,
                               std::chrono::milliseconds refresh_interval) {
  try {
    bpf::PatchedCallsOptions options;
    options.paths = paths;
    calls_ = std::make_unique<bpf::PatchedCalls>(options);
    if (bpf_stats) stats_ = std::make_unique<bpf::RunTimeStats>();
  } catch (const std::exception& e) {
    calls_.reset();
    log(LogLevel::warn, std::string("patched-call counting is off: ") + e.what());
    return;
  }
  refresh();
  refresher_ = std::thread([this, refresh_interval] {
    while (!stop_) {
      for (auto waited = std::chrono::milliseconds(0); !stop_ && waited < refresh_interval;
           waited += std::chrono::milliseconds(100)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!stop_) refresh();
    }
  });
}

CallsCollector::~CallsCollector() {
  stop_ = true;
  if (refresher_.joinable()) refresher_.join();
}

void CallsCollector::refresh() {
  bpf::RefreshReport report;
  try {
    std::lock_guard lock(mutex_);
    report = calls_->refresh();
  } catch (const std::exception& e) {
    log(LogLevel::error, std::string("patched calls: ") + e.what());
    return;
  }
  for (const auto& f : report.attached) log(LogLevel::info, "counting calls of " + to_string(f));
  for (const auto& f : report.detached) log(LogLevel::info, "stopped counting " + to_string(f));
  for (const auto& [f, why] : report.failed) {
    log(LogLevel::warn, "cannot count calls of " + to_string(f) + ": " + why);
  }
  for (const auto& f : report.over_limit) {
    log(LogLevel::warn, "not counting " + to_string(f) + ": too many patched functions");
  }
}

std::vector<MetricFamily> CallsCollector::Collect() const {
  std::vector<MetricFamily> families;
  families.push_back(bpf_program_up_family("patched_calls", calls_ != nullptr));
  if (!calls_) return families;

  std::vector<bpf::ObservedFunction> observed;
  std::vector<std::pair<bpf::FunctionId, bpf::ProgramCost>> costs;
  {
    std::lock_guard lock(mutex_);
    observed = calls_->read();
    // Program fds stay valid until the next refresh(), which this lock keeps out.
    if (stats_) {
      for (const auto& f : observed) {
        for (int fd : f.program_fds) {
          try {
            costs.emplace_back(f.function, bpf::program_cost(fd));
          } catch (const std::exception&) {
            // A program that went away between read() and here has no cost to report.
          }
        }
      }
    }
  }

  MetricFamily calls{"lpmon_patched_function_calls_total",
                     "Calls into each patched function since lpmon attached to it.",
                     MetricType::Counter,
                     {}};
  MetricFamily duration{"lpmon_patched_function_duration_seconds",
                        "Time spent in each patched function (the replacement in force), per "
                        "call; log2 buckets.",
                        MetricType::Histogram,
                        {}};
  for (const auto& f : observed) {
    ClientMetric c;
    c.label = function_labels(f.function);
    c.counter.value = static_cast<double>(f.counters.calls);
    calls.metric.push_back(std::move(c));

    ClientMetric h;
    h.label = function_labels(f.function);
    h.histogram.sample_count = f.counters.timed;
    h.histogram.sample_sum = static_cast<double>(f.counters.total_ns) / 1e9;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bpf::Log2Histogram::kSlots; ++i) {
      cumulative += f.counters.latency.slots[i];
      h.histogram.bucket.push_back(
          {cumulative, static_cast<double>(bpf::Log2Histogram::slot_high(i)) / 1e9});
    }
    h.histogram.bucket.push_back({f.counters.timed, std::numeric_limits<double>::infinity()});
    duration.metric.push_back(std::move(h));
  }
  families.push_back(std::move(calls));
  families.push_back(std::move(duration));

  if (stats_) {
    MetricFamily runs{"lpmon_bpf_program_runs_total",
                      "Runs of lpmon's BPF programs (kernel BPF statistics, --bpf.stats).",
                      MetricType::Counter,
                      {}};
    MetricFamily run_time{"lpmon_bpf_program_run_seconds_total",
                          "Time spent in lpmon's BPF programs (kernel BPF statistics).",
                          MetricType::Counter,
                          {}};
    for (const auto& [function, cost] : costs) {
      auto labels = function_labels(function);
      labels.push_back({"program", cost.name});
      ClientMetric r;
      r.label = labels;
      r.counter.value = static_cast<double>(cost.run_count);
      runs.metric.push_back(std::move(r));
      ClientMetric t;
      t.label = labels;
      t.counter.value = std::chrono::duration<double>(cost.run_time).count();
      run_time.metric.push_back(std::move(t));
    }
    families.push_back(std::move(runs));
    families.push_back(std::move(run_time));
  }
  return families;
}

}  // namespace lpmon::exporter
