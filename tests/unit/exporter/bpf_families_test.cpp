#include "bpf_families.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lpmon::exporter {
namespace {

using prometheus::MetricType;

TEST(HistogramSample, BucketsAreCumulativeAndInfHoldsTheCount) {
  const std::vector<std::uint64_t> per_bucket{2, 0, 3};
  const std::vector<double> bounds{0.1, 1, 10};
  // 6 samples, one of them above the last bound.
  const auto sample = histogram_sample({{"direction", "patching"}}, per_bucket, bounds, 6, 42.5);

  EXPECT_EQ(sample.label, (Labels{{"direction", "patching"}}));
  EXPECT_EQ(sample.histogram.sample_count, 6u);
  EXPECT_DOUBLE_EQ(sample.histogram.sample_sum, 42.5);
  ASSERT_EQ(sample.histogram.bucket.size(), 4u);
  const std::vector<std::uint64_t> cumulative{2, 2, 5, 6};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sample.histogram.bucket[i].cumulative_count, cumulative[i]) << i;
    EXPECT_DOUBLE_EQ(sample.histogram.bucket[i].upper_bound, bounds[i]) << i;
  }
  EXPECT_EQ(sample.histogram.bucket[3].cumulative_count, 6u);
  EXPECT_TRUE(std::isinf(sample.histogram.bucket[3].upper_bound));
}

TEST(BpfProgramCostFamilies, RunsAndSecondsPerProgramWithItsLabels) {
  bpf::ProgramCost init;
  init.name = "klp_init_transi";
  init.run_count = 4;
  init.run_time = std::chrono::microseconds(1500);
  const Labels labels{{"object", "vmlinux"},
                      {"function", "klp_init_transition"},
                      {"program", "klp_init_transition"}};

  const auto families = bpf_program_cost_families({{labels, init}});

  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "lpmon_bpf_program_runs_total");
  EXPECT_EQ(families[1].name, "lpmon_bpf_program_run_seconds_total");
  for (const auto& family : families) {
    EXPECT_EQ(family.type, MetricType::Counter);
    ASSERT_EQ(family.metric.size(), 1u);
    EXPECT_EQ(family.metric[0].label, labels);
  }
  EXPECT_DOUBLE_EQ(families[0].metric[0].counter.value, 4);
  EXPECT_DOUBLE_EQ(families[1].metric[0].counter.value, 0.0015);
}

TEST(BpfProgramCostFamilies, NoProgramsStillDescribesBothFamilies) {
  const auto families = bpf_program_cost_families({});
  ASSERT_EQ(families.size(), 2u);
  EXPECT_TRUE(families[0].metric.empty());
  EXPECT_TRUE(families[1].metric.empty());
}

}  // namespace
}  // namespace lpmon::exporter
