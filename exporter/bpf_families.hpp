#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lpmon/bpf/bpf_stats.hpp"

namespace lpmon::exporter {

// Families and samples that more than one BPF collector builds; MergedCollector joins the
// families of the same name.

using Labels = std::vector<prometheus::ClientMetric::Label>;

// lpmon_bpf_program_up{program} for one of lpmon's BPF programs: 1 attached, 0 not (the
// log says why).
prometheus::MetricFamily bpf_program_up_family(const std::string& program, bool up);

// What one loaded program has cost, with labels saying where it runs: the object and
// function it is attached to, and its name.
struct LabelledCost {
  Labels labels;
  bpf::ProgramCost cost;
};

// lpmon_bpf_program_runs_total and lpmon_bpf_program_run_seconds_total (--bpf.stats).
std::vector<prometheus::MetricFamily> bpf_program_cost_families(
    const std::vector<LabelledCost>& costs);

// A histogram sample from per-bucket counts (not cumulative) and their upper bounds; count
// includes the samples above the last bound, which only the +Inf bucket holds.
prometheus::ClientMetric histogram_sample(Labels labels,
                                          std::span<const std::uint64_t> bucket_counts,
                                          std::span<const double> upper_bounds, std::uint64_t count,
                                          double sum);

}  // namespace lpmon::exporter
