#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "calls.hpp"
#include "fake_kernel_tree.hpp"
#include "run_lpmon.hpp"

namespace lpmon::cli {
namespace {

using testing::FakeKernelTree;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// 2024-05-01T12:00:00Z
const std::chrono::system_clock::time_point kWall{std::chrono::seconds(1714564800)};

TEST(CallsHistogramText, ShowsTheSlotsFromFirstToLastNonEmptyWithScaledBars) {
  bpf::Log2Histogram h;
  h.slots[8] = 4;
  h.slots[10] = 2;

  EXPECT_EQ(
      format_histogram_text(h),
      "              nsec            : count     distribution\n"
      "           256 -> 511          : 4         |****************************************|\n"
      "           512 -> 1023         : 0         |                                        |\n"
      "          1024 -> 2047         : 2         |********************                    |\n");
}

TEST(CallsHistogramText, TheLastSlotIsOpenAndAnEmptyHistogramPrintsNothing) {
  bpf::Log2Histogram h;
  EXPECT_EQ(format_histogram_text(h), "");
  h.slots[31] = 1;
  EXPECT_THAT(format_histogram_text(h),
              HasSubstr("    2147483648 -> inf          : 1         |****"));
}

CallsSample sample() {
  CallsSample s;
  s.function.function = {"lpmon_target", "lpmon_target_check_len", 1};
  s.function.patches = {"lpmon_fixes_v1", "lpmon_fixes_v2"};
  s.function.probe = bpf::ProbeKind::kprobe;
  s.function.timing = bpf::Timing::full();
  s.function.counters = {.calls = 3000, .timed = 2999, .total_ns = 900000, .latency = {}};
  s.delta = {.calls = 1000, .timed = 1000, .total_ns = 512000, .latency = {}};
  s.delta.latency.slots[9] = 1000;
  s.interval = std::chrono::milliseconds(500);
  return s;
}

TEST(CallsText, SummaryLineThenHistogram) {
  const std::string text = format_calls_text(sample(), kWall);

  EXPECT_THAT(text, HasSubstr(" lpmon_target_check_len [lpmon_target]: 1000 calls in 0.50 s "
                              "(2000.0/s), 3000 since attached, mean 512 ns "
                              "(lpmon_fixes_v1, lpmon_fixes_v2; kprobe, full)\n"));
  EXPECT_THAT(text, HasSubstr("           512 -> 1023         : 1000      |"));
}

TEST(CallsText, SampledSaysHowManyWereTimedAndCountOnlyHasNoLatency) {
  CallsSample s = sample();
  s.function.timing = bpf::Timing::sampled(64);
  s.delta.timed = 16;
  s.delta.total_ns = 16 * 500;
  EXPECT_THAT(format_calls_text(s, kWall),
              HasSubstr("mean 500 ns of 16 timed (lpmon_fixes_v1, lpmon_fixes_v2; kprobe, "
                        "sampled 1/64)\n"));
  EXPECT_EQ(calls_to_json(s, kWall).at("mode"), "sampled");

  s.function.timing = bpf::Timing::count_only();
  s.delta = {.calls = 1000, .timed = 0, .total_ns = 0, .latency = {}};
  const std::string text = format_calls_text(s, kWall);
  EXPECT_THAT(text, HasSubstr("3000 since attached (lpmon_fixes_v1, lpmon_fixes_v2; kprobe, "
                              "count)\n"));
  EXPECT_THAT(text, Not(HasSubstr("mean")));
  EXPECT_THAT(text, Not(HasSubstr("nsec")));
}

TEST(CallsText, CostsFollowOnePerProgram) {
  CallsSample s = sample();
  s.costs.push_back({.id = 42,
                     .name = "calls_kprobe",
                     .run_count = 1000,
                     .run_time = std::chrono::microseconds(250),
                     .recursion_misses = 1});

  EXPECT_THAT(format_calls_text(s, kWall),
              HasSubstr("    bpf calls_kprobe    id 42     1000 runs, 250 ns/run, 1 missed\n"));
}

TEST(CallsJson, CumulativeCountersIntervalRateAndNonEmptySlots) {
  CallsSample s = sample();
  s.function.fallback_reason = "no kprobe";
  s.costs.push_back({.id = 7,
                     .name = "calls_kretprobe",
                     .run_count = 4,
                     .run_time = std::chrono::nanoseconds(100)});

  const nlohmann::json j = calls_to_json(s, kWall);

  EXPECT_EQ(j.at("type"), "calls");
  EXPECT_EQ(j.at("time"), "2024-05-01T12:00:00.000Z");
  EXPECT_EQ(j.at("object"), "lpmon_target");
  EXPECT_EQ(j.at("function"), "lpmon_target_check_len");
  EXPECT_EQ(j.at("sympos"), 1);
  EXPECT_EQ(j.at("probe"), "kprobe");
  EXPECT_EQ(j.at("mode"), "full");
  EXPECT_EQ(j.at("sample_every"), 1);
  EXPECT_EQ(j.at("fallback_reason"), "no kprobe");
  EXPECT_EQ(j.at("calls"), 3000);
  EXPECT_EQ(j.at("timed"), 2999);
  EXPECT_EQ(j.at("calls_delta"), 1000);
  EXPECT_DOUBLE_EQ(j.at("calls_per_second").get<double>(), 2000.0);
  EXPECT_EQ(j.at("latency_ns"),
            nlohmann::json::parse(R"([{"low": 512, "high": 1023, "count": 1000}])"));
  EXPECT_EQ(j.at("bpf_programs").at(0).at("name"), "calls_kretprobe");
  EXPECT_DOUBLE_EQ(j.at("bpf_programs").at(0).at("ns_per_run").get<double>(), 25.0);
}

TEST(CallsRefresh, OneLineOrObjectPerChange) {
  bpf::RefreshReport report;
  const bpf::FunctionId check_len{"lpmon_target", "lpmon_target_check_len", 1};
  const bpf::FunctionId cmdline{"vmlinux", "cmdline_proc_show", 1};
  report.attached.push_back(check_len);
  report.detached.push_back(cmdline);
  report.failed.emplace_back(bpf::FunctionId{"vmlinux", "f", 2}, "no such function");
  report.over_limit.push_back({"vmlinux", "g", 1});
  bpf::ObservedFunction observed;
  observed.function = check_len;
  observed.probe = bpf::ProbeKind::fentry;
  observed.fallback_reason = "not in kallsyms";

  const std::string text = format_refresh_text(report, {observed}, 16, kWall);
  EXPECT_THAT(text, HasSubstr(" observing lpmon_target_check_len [lpmon_target] with fentry "
                              "(not in kallsyms)\n"));
  EXPECT_THAT(text, HasSubstr(" stopped observing cmdline_proc_show (unpatched, or its module "
                              "went)\n"));
  EXPECT_THAT(text, HasSubstr(" cannot observe f,2: no such function\n"));
  EXPECT_THAT(text, HasSubstr(" not observing g: already observing 16 functions"));

  const auto events = refresh_to_json(report, {observed}, kWall);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].at("type"), "detached");
  EXPECT_EQ(events[0].at("function"), "cmdline_proc_show");
  EXPECT_EQ(events[1].at("type"), "attached");
  EXPECT_EQ(events[1].at("probe"), "fentry");
  EXPECT_EQ(events[2].at("type"), "attach_failed");
  EXPECT_EQ(events[2].at("sympos"), 2);
  EXPECT_EQ(events[2].at("error"), "no such function");
  EXPECT_EQ(events[3].at("type"), "over_limit");
}

using testing::lpmon;
using testing::Outcome;

TEST(CallsCommand, WithoutLivepatchSaysSoAndExitsFive) {
  FakeKernelTree tree;
  tree.set_kernel("6.18.44", 0);

  const Outcome outcome = lpmon({"calls", "--sysfs-root", tree.paths().sysfs.string(),
                                 "--procfs-root", tree.paths().procfs.string()});

  EXPECT_EQ(outcome.exit_code, 5);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_THAT(outcome.err, HasSubstr("lpmon: this kernel (6.18.44) has no livepatch support"));
}

TEST(CallsCommand, WithoutBtfExitsOneNamingIt) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  tree.enable_livepatch();

  const Outcome outcome = lpmon({"calls", "--sysfs-root", tree.paths().sysfs.string()});

  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.err, HasSubstr("kernel has no BTF"));
}

TEST(CallsCommand, BadOptionsAreUsageErrors) {
  EXPECT_EQ(lpmon({"calls", "--probe", "uprobe"}).exit_code, 2);
  EXPECT_EQ(lpmon({"calls", "--interval", "0"}).exit_code, 2);
  EXPECT_EQ(lpmon({"calls", "--count", "0"}).exit_code, 2);
  EXPECT_EQ(lpmon({"calls", "--max-functions", "0"}).exit_code, 2);
}

}  // namespace
}  // namespace lpmon::cli
