#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "lpmon/bpf/transition_reducer.hpp"
#include "lpmon/bpf/transition_tracer.hpp"
#include "lpmon/kernel_paths.hpp"

namespace lpmon::exporter {

// What the transition tracer's events add up to (liblpmon's TransitionReducer): transitions
// by patch, direction and result, a duration histogram by direction, and for each transition
// in flight its age and the tasks its last round could not switch. No locking, no clock: the
// collector adds those.
class TransitionMetrics {
 public:
  void record(const bpf::TraceEvent& event);

  // `now` is CLOCK_MONOTONIC, the tracer's clock, for the age of transitions in flight.
  std::vector<prometheus::MetricFamily> families(std::chrono::nanoseconds now) const;

  // Upper bounds of the duration histogram, in seconds: a transition takes at least one
  // klp round (about 1 s once a task blocks) and is stuck beyond minutes.
  static const std::vector<double>& duration_buckets();

 private:
  struct Histogram {
    std::vector<std::uint64_t> bucket_counts;  // not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  void count_end(const bpf::TransitionState& ended);

  bpf::TransitionReducer reducer_;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> transitions_;
  std::map<std::string, Histogram> durations_;  // by direction
};

// Runs the transition tracer and publishes TransitionMetrics at scrape time. A tracer that
// cannot load (no livepatch, no BTF, no privileges) does not stop the exporter:
// lpmon_bpf_program_up{program="transition"} says 0 and the reason is logged.
class TransitionCollector : public prometheus::Collectable {
 public:
  // publish_costs: publish what each of the tracer's programs costs, from the kernel's BPF
  // run-time statistics (which the caller turns on: bpf::RunTimeStats).
  explicit TransitionCollector(const KernelPaths& paths, bool publish_costs = false);
  ~TransitionCollector() override;
  // Starts reading the tracer's events in a thread of its own; apart from the constructor
  // (which attaches) so that the thread is made after the capabilities are dropped.
  void start();

  std::vector<prometheus::MetricFamily> Collect() const override;

  bool tracing() const { return tracer_ != nullptr; }
  const std::string& load_error() const { return load_error_; }

 private:
  mutable std::mutex mutex_;
  TransitionMetrics metrics_;
  std::string load_error_;
  bool publish_costs_;
  std::unique_ptr<bpf::TransitionTracer> tracer_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace lpmon::exporter
