#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "lpmon/kernel_paths.hpp"
#include "trace_events.hpp"
#include "transition_collector.hpp"

namespace lpmon::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using std::chrono::milliseconds;

// On the build host the tracer cannot attach (no livepatch here; and tests must not need
// root), so the collector only has what record() gives it. A fake sysfs root makes that
// certain everywhere.
KernelPaths no_livepatch() {
  return {"/nonexistent-sysfs", "/nonexistent-procfs"};
}

using testing::transition_event;

const MetricFamily* family(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(TransitionCollector, WithoutTracerReportsProgramDownAndNothingElse) {
  TransitionCollector collector(no_livepatch());
  EXPECT_FALSE(collector.tracing());
  EXPECT_NE(collector.load_error().find("livepatch"), std::string::npos);

  const auto families = collector.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "lpmon_bpf_program_up");
  EXPECT_EQ(families[0].metric.at(0).gauge.value, 0);
}

TEST(TransitionCollector, WithoutTracerThereIsNoProgramCostToPublish) {
  const TransitionCollector collector(no_livepatch(), /*publish_costs=*/true);

  const auto families = collector.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "lpmon_bpf_program_up");
}

const ClientMetric* sample(const MetricFamily* f, const std::vector<ClientMetric::Label>& labels) {
  if (!f) return nullptr;
  for (const auto& m : f->metric) {
    if (m.label == labels) return &m;
  }
  return nullptr;
}

using K = bpf::TransitionKind;
using R = bpf::TransitionResult;

TEST(TransitionMetrics, EndEventsAreCountedByPatchDirectionAndResult) {
  TransitionMetrics metrics;
  metrics.record(transition_event(K::start, "p", true, milliseconds(1000)));
  metrics.record(
      transition_event(K::end, "p", true, milliseconds(2500), milliseconds(1500), R::complete));
  // Disabling, then reversed back to patching mid-way.
  metrics.record(transition_event(K::start, "p", false, milliseconds(3000)));
  metrics.record(transition_event(K::reverse, "p", true, milliseconds(3100)));
  metrics.record(
      transition_event(K::end, "p", true, milliseconds(3200), milliseconds(200), R::reversed));

  const auto families = metrics.families(milliseconds(4000));
  const auto* total = family(families, "lpmon_transitions_total");
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(total->type, prometheus::MetricType::Counter);
  ASSERT_EQ(total->metric.size(), 2u);
  const auto* complete =
      sample(total, {{"patch", "p"}, {"direction", "patching"}, {"result", "complete"}});
  ASSERT_NE(complete, nullptr);
  EXPECT_EQ(complete->counter.value, 1);
  ASSERT_NE(sample(total, {{"patch", "p"}, {"direction", "patching"}, {"result", "reversed"}}),
            nullptr);
  // Nothing in flight once both ended.
  EXPECT_TRUE(family(families, "lpmon_transition_in_progress_seconds")->metric.empty());
}

TEST(TransitionMetrics, DurationHistogramIsCumulativeWithInfBucket) {
  TransitionMetrics metrics;
  for (auto ms : {300, 1500, 1500, 700000}) {
    metrics.record(
        transition_event(K::end, "p", true, milliseconds(ms), milliseconds(ms), R::complete));
  }
  const auto families = metrics.families({});
  const auto* duration =
      sample(family(families, "lpmon_transition_duration_seconds"), {{"direction", "patching"}});
  ASSERT_NE(duration, nullptr);
  const auto& h = duration->histogram;
  EXPECT_EQ(h.sample_count, 4u);
  EXPECT_DOUBLE_EQ(h.sample_sum, 0.3 + 1.5 + 1.5 + 700);
  const auto& bounds = TransitionMetrics::duration_buckets();
  ASSERT_EQ(h.bucket.size(), bounds.size() + 1);
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    const std::uint64_t expected = (bounds[i] >= 0.3) + 2 * (bounds[i] >= 1.5);
    EXPECT_EQ(h.bucket[i].cumulative_count, expected) << "le=" << bounds[i];
  }
  EXPECT_TRUE(std::isinf(h.bucket.back().upper_bound));
  EXPECT_EQ(h.bucket.back().cumulative_count, 4u);  // 700 s is beyond every finite bound
}

TEST(TransitionMetrics, InFlightTransitionHasAnAgeAndItsBlockedTasks) {
  TransitionMetrics metrics;
  metrics.record(transition_event(K::start, "p", true, milliseconds(1000)));
  bpf::RoundEvent round;
  round.patch = "p";
  round.sleeping_in_function = 3;
  round.running = 1;
  metrics.record(round);

  const auto families = metrics.families(milliseconds(3500));
  const auto* age = sample(family(families, "lpmon_transition_in_progress_seconds"),
                           {{"patch", "p"}, {"direction", "patching"}});
  ASSERT_NE(age, nullptr);
  EXPECT_DOUBLE_EQ(age->gauge.value, 2.5);
  const auto* blocked = family(families, "lpmon_transition_blocked_tasks");
  ASSERT_NE(sample(blocked, {{"patch", "p"}, {"reason", "sleeping_in_function"}}), nullptr);
  EXPECT_EQ(sample(blocked, {{"patch", "p"}, {"reason", "sleeping_in_function"}})->gauge.value, 3);
  EXPECT_EQ(sample(blocked, {{"patch", "p"}, {"reason", "running"}})->gauge.value, 1);
  EXPECT_EQ(sample(blocked, {{"patch", "p"}, {"reason", "unreliable_stack"}})->gauge.value, 0);
}

TEST(TransitionMetrics, RoundOfAnUnknownTransitionIsIgnored) {
  TransitionMetrics metrics;
  bpf::RoundEvent round;
  round.patch = "never-started";
  round.running = 2;
  metrics.record(round);
  const auto families = metrics.families({});
  EXPECT_TRUE(family(families, "lpmon_transition_blocked_tasks")->metric.empty());
}

}  // namespace
}  // namespace lpmon::exporter
