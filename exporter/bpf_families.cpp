#include "bpf_families.hpp"

#include <chrono>
#include <limits>
#include <utility>

namespace lpmon::exporter {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily bpf_program_up_family(const std::string& program, bool up) {
  ClientMetric metric;
  metric.label = {{"program", program}};
  metric.gauge.value = up ? 1 : 0;
  return {"lpmon_bpf_program_up",
          "Whether lpmon's BPF program is loaded and attached (0: see the log).",
          MetricType::Gauge,
          {std::move(metric)}};
}

std::vector<MetricFamily> bpf_program_cost_families(const std::vector<LabelledCost>& costs) {
  MetricFamily runs{"lpmon_bpf_program_runs_total",
                    "Runs of lpmon's BPF programs (kernel BPF statistics, --bpf.stats).",
                    MetricType::Counter,
                    {}};
  MetricFamily run_time{"lpmon_bpf_program_run_seconds_total",
                        "Time spent in lpmon's BPF programs (kernel BPF statistics).",
                        MetricType::Counter,
                        {}};
  for (const auto& [labels, cost] : costs) {
    ClientMetric r;
    r.label = labels;
    r.counter.value = static_cast<double>(cost.run_count);
    runs.metric.push_back(std::move(r));
    ClientMetric t;
    t.label = labels;
    t.counter.value = std::chrono::duration<double>(cost.run_time).count();
    run_time.metric.push_back(std::move(t));
  }
  return {std::move(runs), std::move(run_time)};
}

ClientMetric histogram_sample(Labels labels, std::span<const std::uint64_t> bucket_counts,
                              std::span<const double> upper_bounds, std::uint64_t count,
                              double sum) {
  ClientMetric sample;
  sample.label = std::move(labels);
  sample.histogram.sample_count = count;
  sample.histogram.sample_sum = sum;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bucket_counts.size() && i < upper_bounds.size(); ++i) {
    cumulative += bucket_counts[i];
    sample.histogram.bucket.push_back({cumulative, upper_bounds[i]});
  }
  sample.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
  return sample;
}

}  // namespace lpmon::exporter
