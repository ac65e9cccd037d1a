#include "calls_collector.hpp"

#include <unistd.h>

#include <exception>
#include <future>

#include "bpf_families.hpp"
#include "log.hpp"

namespace lpmon::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

Labels function_labels(const bpf::FunctionId& f) {
  return {{"object", f.object}, {"function", f.name}};
}

// Upper bounds of the log2 latency slots, in seconds.
const std::vector<double>& latency_bounds() {
  static const std::vector<double> bounds = [] {
    std::vector<double> seconds;
    for (std::size_t i = 0; i < bpf::Log2Histogram::kSlots; ++i) {
      seconds.push_back(static_cast<double>(bpf::Log2Histogram::slot_high(i)) / 1e9);
    }
    return seconds;
  }();
  return bounds;
}

}  // namespace

CallsCollector::CallsCollector(const KernelPaths& paths, bool publish_costs, bpf::Timing timing,
                               std::chrono::milliseconds refresh_interval)
    : publish_costs_(publish_costs), timing_(timing), refresh_interval_(refresh_interval) {
  try {
    bpf::PatchedCallsOptions options;
    options.paths = paths;
    options.timing = timing;
    calls_ = std::make_unique<bpf::PatchedCalls>(options);
  } catch (const std::exception& e) {
    log(LogLevel::warn, std::string("patched-call counting is off: ") + e.what());
    return;
  }
  refresh();
}

pid_t CallsCollector::start(const std::function<void()>& prepare) {
  if (!calls_ || refresher_.joinable()) return 0;
  std::promise<pid_t> started;
  std::future<pid_t> tid = started.get_future();
  refresher_ = std::thread([this, refresh_interval = refresh_interval_, &prepare, &started] {
    try {
      if (prepare) prepare();
      started.set_value(gettid());
    } catch (...) {
      started.set_exception(std::current_exception());
      return;
    }
    while (!stop_) {
      for (auto waited = std::chrono::milliseconds(0); !stop_ && waited < refresh_interval;
           waited += std::chrono::milliseconds(100)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!stop_) refresh();
    }
  });
  try {
    return tid.get();
  } catch (...) {
    refresher_.join();
    throw;
  }
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
  std::vector<LabelledCost> costs;
  {
    std::lock_guard lock(mutex_);
    observed = calls_->read();
    // Program fds stay valid until the next refresh(), which this lock keeps out.
    if (publish_costs_) {
      for (const auto& f : observed) {
        for (int fd : f.program_fds) {
          try {
            bpf::ProgramCost cost = bpf::program_cost(fd);
            auto labels = function_labels(f.function);
            labels.push_back({"program", cost.name});
            costs.push_back({std::move(labels), std::move(cost)});
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
                        "timed call (every call, or 1 in --calls.sample-every); log2 buckets.",
                        MetricType::Histogram,
                        {}};
  for (const auto& f : observed) {
    ClientMetric c;
    c.label = function_labels(f.function);
    c.counter.value = static_cast<double>(f.counters.calls);
    calls.metric.push_back(std::move(c));
    duration.metric.push_back(
        histogram_sample(function_labels(f.function), f.counters.latency.slots, latency_bounds(),
                         f.counters.timed, static_cast<double>(f.counters.total_ns) / 1e9));
  }
  families.push_back(std::move(calls));
  if (timing_.timed()) families.push_back(std::move(duration));

  if (publish_costs_) {
    for (auto& family : bpf_program_cost_families(costs)) families.push_back(std::move(family));
  }
  return families;
}

}  // namespace lpmon::exporter
