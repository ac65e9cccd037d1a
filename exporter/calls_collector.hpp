#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lpmon/bpf/patched_calls.hpp"
#include "lpmon/kernel_paths.hpp"

namespace lpmon::exporter {

// Calls into every patched function and their latency, counted in the kernel by
// lpmon::bpf::PatchedCalls. Attaching costs a fraction of a second per function, so a
// background thread follows patches as they come and go, and a scrape only reads counters.
// Counters start at 0 when a function is (re)attached: Prometheus sees a counter reset.
class CallsCollector : public prometheus::Collectable {
 public:
  // publish_costs: publish what each probe costs, from the kernel's BPF run-time statistics
  // (which the caller turns on: bpf::RunTimeStats).
  // timing: which calls are timed (bpf::Timing); the duration histogram is published only
  // when some are.
  CallsCollector(const KernelPaths& paths, bool publish_costs,
                 bpf::Timing timing = bpf::kDefaultTiming,
                 std::chrono::milliseconds refresh_interval = std::chrono::seconds(2));
  ~CallsCollector() override;
  // Starts refreshing (attaching to patches that arrive) in a thread of its own, which first
  // runs `prepare` (dropping the capabilities it does not need: they are per thread) and
  // returns its thread id; rethrows what `prepare` threw (then no thread runs). 0 when not
  // observing.
  pid_t start(const std::function<void()>& prepare = {});

  std::vector<prometheus::MetricFamily> Collect() const override;
  bool observing() const { return calls_ != nullptr; }

 private:
  void refresh();

  mutable std::mutex mutex_;  // PatchedCalls is not thread-safe
  std::unique_ptr<bpf::PatchedCalls> calls_;
  bool publish_costs_;
  bpf::Timing timing_;
  std::chrono::milliseconds refresh_interval_;
  std::atomic<bool> stop_{false};
  std::thread refresher_;
};

}  // namespace lpmon::exporter
