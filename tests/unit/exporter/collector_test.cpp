#include "livepatch_collector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fake_kernel_tree.hpp"
#include "fixtures.hpp"
#include "lpmon/kernel_info.hpp"

namespace lpmon::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using testing::FakeKernelTree;
using testing::fixture;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

using Labels = std::vector<ClientMetric::Label>;

constexpr std::string_view kVersion = "9.8.7-test";

std::vector<MetricFamily> scrape(const KernelPaths& paths) {
  return LivepatchCollector(paths, std::string(kVersion)).Collect();
}

// The family called `name`, or nullptr.
const MetricFamily* find_family(const std::vector<MetricFamily>& families, std::string_view name) {
  const auto it = std::find_if(families.begin(), families.end(),
                               [&](const MetricFamily& family) { return family.name == name; });
  return it == families.end() ? nullptr : &*it;
}

// The sample of `family` with exactly these labels (in any order), or nullptr.
const ClientMetric* find_sample(const MetricFamily& family, Labels labels) {
  std::sort(labels.begin(), labels.end());
  for (const ClientMetric& metric : family.metric) {
    Labels have = metric.label;
    std::sort(have.begin(), have.end());
    if (have == labels) return &metric;
  }
  return nullptr;
}

// The gauge value of family `name` with these labels, or nullopt when there is no such sample.
std::optional<double> gauge(const std::vector<MetricFamily>& families, std::string_view name,
                            const Labels& labels = {}) {
  const MetricFamily* family = find_family(families, name);
  if (family == nullptr) return std::nullopt;
  const ClientMetric* sample = find_sample(*family, labels);
  if (sample == nullptr) return std::nullopt;
  return sample->gauge.value;
}

std::optional<double> patch_gauge(const std::vector<MetricFamily>& families, std::string_view name,
                                  const std::string& patch) {
  return gauge(families, name, {{"patch", patch}});
}

std::optional<double> taint_gauge(const std::vector<MetricFamily>& families, std::string flag,
                                  char letter) {
  return gauge(families, "lpmon_kernel_tainted",
               {{"flag", flag}, {"letter", std::string(1, letter)}});
}

std::string serialize(const std::vector<MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

const std::vector<std::string_view> kPatchFamilies = {
    "lpmon_patch_enabled", "lpmon_patch_in_transition", "lpmon_patch_replace",
    "lpmon_patch_functions"};

TEST(LivepatchCollector, KernelWithoutLivepatch) {
  FakeKernelTree tree;
  tree.set_kernel("6.18.44", 0);

  const auto families = scrape(tree.paths());

  EXPECT_EQ(gauge(families, "lpmon_livepatch_supported"), 0.0);
  for (std::string_view name : kPatchFamilies) {
    EXPECT_EQ(find_family(families, name), nullptr) << name;
  }
  EXPECT_EQ(gauge(families, "lpmon_exporter_build_info", {{"version", std::string(kVersion)}}),
            1.0);
  EXPECT_EQ(gauge(families, "lpmon_kernel_info", {{"release", "6.18.44"}}), 1.0);
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 0.0);
}

TEST(LivepatchCollector, EveryFamilyIsAGaugeWithHelp) {
  for (const char* name : {"linux-6.1-patched", "linux-6.14-transition"}) {
    for (const MetricFamily& family : scrape(fixture(name))) {
      EXPECT_EQ(family.type, MetricType::Gauge) << family.name;
      EXPECT_THAT(family.help, Not(IsEmpty())) << family.name;
    }
  }
}

TEST(LivepatchCollector, Linux61Fixture) {
  const auto families = scrape(fixture("linux-6.1-patched"));

  EXPECT_EQ(gauge(families, "lpmon_livepatch_supported"), 1.0);
  EXPECT_EQ(gauge(families, "lpmon_kernel_info", {{"release", "6.1.0-56-amd64"}}), 1.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_enabled", "livepatch_sample"), 1.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_in_transition", "livepatch_sample"), 0.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_functions", "livepatch_sample"), 1.0);
  // 6.1 has neither replace nor stack_order: the families are described but have no sample.
  for (std::string_view name : {"lpmon_patch_replace", "lpmon_patch_stack_order"}) {
    const MetricFamily* family = find_family(families, name);
    ASSERT_NE(family, nullptr) << name;
    EXPECT_THAT(family->metric, IsEmpty()) << name;
  }
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 0.0);
  for (std::string_view name :
       {"lpmon_patch_enabled", "lpmon_patch_in_transition", "lpmon_patch_functions"}) {
    EXPECT_THAT(find_family(families, name)->metric, SizeIs(1)) << name;
  }
}

TEST(LivepatchCollector, Linux614FixtureHasReplaceAndTransition) {
  const auto families = scrape(fixture("linux-6.14-transition"));

  EXPECT_EQ(patch_gauge(families, "lpmon_patch_enabled", "kpatch_cve_a"), 1.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_enabled", "kpatch_cve_b"), 1.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_in_transition", "kpatch_cve_a"), 0.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_in_transition", "kpatch_cve_b"), 1.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_replace", "kpatch_cve_a"), 0.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_replace", "kpatch_cve_b"), 1.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_stack_order", "kpatch_cve_a"), 1.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_stack_order", "kpatch_cve_b"), 2.0);
  EXPECT_EQ(gauge(families, "lpmon_kernel_info", {{"release", "6.14.0-lpmon"}}), 1.0);
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 0.0);
}

// Debian 12's 6.12: replace (6.11+) without stack_order (6.13+).
TEST(LivepatchCollector, Linux612ShapeHasReplaceWithoutStackOrder) {
  FakeKernelTree tree;
  tree.set_kernel("6.12.118+deb12-amd64", 0);
  tree.enable_livepatch();
  const auto dir = tree.add_patch("lpmon_fixes_v2", true, false);
  FakeKernelTree::write(dir / "replace", "1");
  FakeKernelTree::add_func(dir, "vmlinux", "cmdline_proc_show", 1);

  const auto families = scrape(tree.paths());

  EXPECT_EQ(patch_gauge(families, "lpmon_patch_replace", "lpmon_fixes_v2"), 1.0);
  const MetricFamily* stack_order = find_family(families, "lpmon_patch_stack_order");
  ASSERT_NE(stack_order, nullptr);
  EXPECT_THAT(stack_order->metric, IsEmpty());
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 0.0);
}

TEST(LivepatchCollector, FunctionsAreCountedOverAllObjects) {
  const auto families = scrape(fixture("linux-6.14-transition"));

  // kpatch_cve_a: ext4 has one function, vmlinux two.
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_functions", "kpatch_cve_a"), 3.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_functions", "kpatch_cve_b"), 2.0);
}

TEST(LivepatchCollector, FunctionsOfFakePatch) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  const auto patch_dir = tree.add_patch("lp", false, false);
  FakeKernelTree::add_func(patch_dir, "vmlinux", "show", 1);
  FakeKernelTree::add_func(patch_dir, "vmlinux", "show", 2);
  FakeKernelTree::add_func(patch_dir, "nfsd", "nfsd_open", 1);
  FakeKernelTree::add_func(patch_dir, "xfs", "xfs_mount", 1);
  tree.add_patch("empty", true, false);

  const auto families = scrape(tree.paths());

  EXPECT_EQ(patch_gauge(families, "lpmon_patch_functions", "lp"), 4.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_functions", "empty"), 0.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_enabled", "lp"), 0.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_enabled", "empty"), 1.0);
}

TEST(LivepatchCollector, LivepatchWithoutPatchesHasEmptyFamilies) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  tree.enable_livepatch();

  const auto families = scrape(tree.paths());

  EXPECT_EQ(gauge(families, "lpmon_livepatch_supported"), 1.0);
  for (std::string_view name : kPatchFamilies) {
    const MetricFamily* family = find_family(families, name);
    ASSERT_NE(family, nullptr) << name;
    EXPECT_THAT(family->metric, IsEmpty()) << name;
  }
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 0.0);
}

TEST(LivepatchCollector, TaintFlagsOfLinux61Fixture) {
  const auto families = scrape(fixture("linux-6.1-patched"));  // taint 45056: OEK

  EXPECT_EQ(taint_gauge(families, "oot_module", 'O'), 1.0);
  EXPECT_EQ(taint_gauge(families, "unsigned_module", 'E'), 1.0);
  EXPECT_EQ(taint_gauge(families, "livepatch", 'K'), 1.0);
  EXPECT_EQ(taint_gauge(families, "proprietary_module", 'P'), 0.0);
  EXPECT_EQ(taint_gauge(families, "warn", 'W'), 0.0);
  EXPECT_EQ(taint_gauge(families, "fwctl", 'J'), 0.0);
  // A flag's letter is its own, not a neighbour's.
  EXPECT_EQ(taint_gauge(families, "livepatch", 'L'), std::nullopt);
}

TEST(LivepatchCollector, TaintFlagsOfLinux614Fixture) {
  const auto families = scrape(fixture("linux-6.14-transition"));  // taint 33280: WK

  EXPECT_EQ(taint_gauge(families, "warn", 'W'), 1.0);
  EXPECT_EQ(taint_gauge(families, "livepatch", 'K'), 1.0);
  EXPECT_EQ(taint_gauge(families, "oot_module", 'O'), 0.0);
  EXPECT_EQ(taint_gauge(families, "unsigned_module", 'E'), 0.0);
}

TEST(LivepatchCollector, OneTaintSamplePerKnownFlag) {
  const auto families = scrape(fixture("linux-6.14-transition"));
  const MetricFamily* tainted = find_family(families, "lpmon_kernel_tainted");
  ASSERT_NE(tainted, nullptr);

  EXPECT_THAT(tainted->metric, SizeIs(known_taint_flags().size()));
  double set = 0;
  for (const TaintFlag& flag : known_taint_flags()) {
    const auto value = taint_gauge(families, std::string(flag.name), flag.letter);
    ASSERT_TRUE(value.has_value()) << flag.name;
    set += *value;
  }
  EXPECT_EQ(set, 2.0);
}

TEST(LivepatchCollector, HighTaintBitsOnly) {
  FakeKernelTree tree;
  tree.set_kernel("6.15.0", (1ul << 19) | (1ul << 40));  // J, and a bit newer than the table

  const auto families = scrape(tree.paths());

  EXPECT_EQ(taint_gauge(families, "fwctl", 'J'), 1.0);
  EXPECT_EQ(taint_gauge(families, "test", 'N'), 0.0);
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 0.0);
}

TEST(LivepatchCollector, PatchInfoCarriesVersionAndCves) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  tree.add_patch("acme_v2", true, false);
  const auto module = tree.paths().sysfs / "module" / "acme_v2";
  FakeKernelTree::write(module / "version", "2");
  FakeKernelTree::write(module / "parameters" / "cves", "CVE-2099-0001,CVE-2099-0003");

  const auto families = scrape(tree.paths());
  EXPECT_EQ(
      gauge(families, "lpmon_patch_info",
            {{"patch", "acme_v2"}, {"version", "2"}, {"cves", "CVE-2099-0001,CVE-2099-0003"}}),
      1.0);
}

TEST(LivepatchCollector, TransitionInProgressCountsPendingTasks) {
  const auto families = scrape(fixture("linux-6.14-transition"));
  EXPECT_EQ(patch_gauge(families, "lpmon_transition_pending_tasks", "kpatch_cve_b"), 2.0);
  double total = 0;
  for (const char* state : {"idle", "unpatched", "patched"}) {
    const auto v = gauge(families, "lpmon_transition_tasks", {{"state", state}});
    ASSERT_TRUE(v.has_value()) << state;
    total += *v;
  }
  EXPECT_EQ(total, 5.0);  // the fixture's five tasks
}

TEST(LivepatchCollector, NoTransitionMeansNoTaskCensus) {
  const auto families = scrape(fixture("linux-6.1-patched"));
  const auto* pending = find_family(families, "lpmon_transition_pending_tasks");
  ASSERT_NE(pending, nullptr);
  EXPECT_TRUE(pending->metric.empty());
}

TEST(LivepatchCollector, MalformedEnabledIsCountedAndTheScrapeGoesOn) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  const auto patch_dir = tree.add_patch("lp", true, true);
  FakeKernelTree::write(patch_dir / "enabled", "abc");
  FakeKernelTree::add_func(patch_dir, "vmlinux", "cmdline_proc_show", 1);
  tree.add_patch("other", true, false);

  const auto families = scrape(tree.paths());

  const auto errors = gauge(families, "lpmon_scrape_read_errors");
  ASSERT_TRUE(errors.has_value());
  EXPECT_GE(*errors, 1.0);
  EXPECT_EQ(gauge(families, "lpmon_livepatch_supported"), 1.0);
  EXPECT_EQ(gauge(families, "lpmon_kernel_info", {{"release", "6.1.0"}}), 1.0);
  // A patch that could not be read completely publishes nothing but its read errors:
  // its defaults would pass for facts (enabled 0, not in transition).
  for (const char* name :
       {"lpmon_patch_enabled", "lpmon_patch_in_transition", "lpmon_patch_functions"}) {
    EXPECT_EQ(patch_gauge(families, name, "lp"), std::nullopt) << name;
  }
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_enabled", "other"), 1.0);
  EXPECT_NE(find_family(families, "lpmon_scrape_duration_seconds"), nullptr);
}

TEST(LivepatchCollector, EachUnreadableFileIsCounted) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  const auto patch_dir = tree.add_patch("lp", true, false);
  FakeKernelTree::write(patch_dir / "enabled", "abc");
  std::filesystem::remove(patch_dir / "transition");

  EXPECT_EQ(gauge(scrape(tree.paths()), "lpmon_scrape_read_errors"), 2.0);
}

TEST(LivepatchCollector, MissingOsreleaseDropsKernelInfoOnly) {
  FakeKernelTree tree;
  FakeKernelTree::write(tree.paths().procfs / "sys" / "kernel" / "tainted", "32768");
  tree.add_patch("lp", true, false);

  const auto families = scrape(tree.paths());

  EXPECT_EQ(find_family(families, "lpmon_kernel_info"), nullptr);
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 1.0);
  EXPECT_EQ(taint_gauge(families, "livepatch", 'K'), 1.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_enabled", "lp"), 1.0);
  EXPECT_EQ(gauge(families, "lpmon_exporter_build_info", {{"version", std::string(kVersion)}}),
            1.0);
}

TEST(LivepatchCollector, MissingProcFilesAreEachCounted) {
  FakeKernelTree tree;  // neither osrelease nor tainted

  const auto families = scrape(tree.paths());

  EXPECT_EQ(find_family(families, "lpmon_kernel_info"), nullptr);
  EXPECT_EQ(find_family(families, "lpmon_kernel_tainted"), nullptr);
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 2.0);
  EXPECT_EQ(gauge(families, "lpmon_livepatch_supported"), 0.0);
}

TEST(LivepatchCollector, MalformedTaintIsCounted) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  FakeKernelTree::write(tree.paths().procfs / "sys" / "kernel" / "tainted", "-1x");

  const auto families = scrape(tree.paths());

  EXPECT_EQ(find_family(families, "lpmon_kernel_tainted"), nullptr);
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 1.0);
}

TEST(LivepatchCollector, ScrapeDurationIsMeasured) {
  const auto families = scrape(fixture("linux-6.14-transition"));

  const auto duration = gauge(families, "lpmon_scrape_duration_seconds");
  ASSERT_TRUE(duration.has_value());
  EXPECT_GT(*duration, 0.0);
  EXPECT_LT(*duration, 60.0);
}

TEST(LivepatchCollector, EachScrapeReadsTheKernelAgain) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  const auto patch_dir = tree.add_patch("lp", true, true);
  const LivepatchCollector collector(tree.paths(), std::string(kVersion));

  EXPECT_EQ(patch_gauge(collector.Collect(), "lpmon_patch_in_transition", "lp"), 1.0);
  FakeKernelTree::write(patch_dir / "transition", "0");
  EXPECT_EQ(patch_gauge(collector.Collect(), "lpmon_patch_in_transition", "lp"), 0.0);
}

// The collector remembers a live patch's structure between scrapes; a patch of the same
// name loaded after it (another sysfs directory) must show its own functions and version,
// and a target module loading under a remembered patch must show as patched.
TEST(LivepatchCollector, RememberedPatchIsReplacedByAnotherOfTheSameName) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  const auto patch_dir = tree.add_patch("lp", true, false);
  FakeKernelTree::add_func(patch_dir, "vmlinux", "alpha", 1);
  const auto module = tree.paths().sysfs / "module" / "lp";
  FakeKernelTree::write(module / "version", "1");
  tree.set_module_state("lp", "live");
  const LivepatchCollector collector(tree.paths(), std::string(kVersion));
  ASSERT_EQ(patch_gauge(collector.Collect(), "lpmon_patch_functions", "lp"), 1.0);

  // Built aside, so that it gets its own inode as on sysfs, then moved into place.
  const auto staging = tree.paths().sysfs / "staging";
  FakeKernelTree::write(staging / "enabled", "1");
  FakeKernelTree::write(staging / "transition", "1");
  for (const char* func : {"beta", "gamma", "delta"}) {
    FakeKernelTree::add_func(staging, "vmlinux", func, 1);
  }
  std::filesystem::remove_all(patch_dir);
  std::filesystem::rename(staging, patch_dir);
  FakeKernelTree::write(module / "version", "2");
  const auto families = collector.Collect();

  EXPECT_EQ(patch_gauge(families, "lpmon_patch_functions", "lp"), 3.0);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_in_transition", "lp"), 1.0);
  EXPECT_EQ(gauge(families, "lpmon_patch_info", {{"patch", "lp"}, {"version", "2"}, {"cves", ""}}),
            1.0);
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 0.0);
}

TEST(LivepatchCollector, RemovedPatchDisappearsFromTheNextScrape) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  const auto patch_dir = tree.add_patch("lp", true, false);
  FakeKernelTree::add_func(patch_dir, "vmlinux", "alpha", 1);
  tree.set_module_state("lp", "live");
  const LivepatchCollector collector(tree.paths(), std::string(kVersion));
  ASSERT_EQ(patch_gauge(collector.Collect(), "lpmon_patch_enabled", "lp"), 1.0);

  std::filesystem::remove_all(patch_dir);
  const auto families = collector.Collect();

  EXPECT_EQ(patch_gauge(families, "lpmon_patch_enabled", "lp"), std::nullopt);
  EXPECT_EQ(patch_gauge(families, "lpmon_patch_functions", "lp"), std::nullopt);
  EXPECT_EQ(gauge(families, "lpmon_scrape_read_errors"), 0.0);
}

TEST(LivepatchCollector, FamilyNamesAreUniqueAndSamplesDistinct) {
  for (const char* name : {"linux-6.1-patched", "linux-6.14-transition"}) {
    const auto families = scrape(fixture(name));
    std::set<std::string> names;
    for (const MetricFamily& family : families) {
      EXPECT_TRUE(names.insert(family.name).second) << name << ": " << family.name;
      std::set<Labels> label_sets;
      for (const ClientMetric& metric : family.metric) {
        Labels labels = metric.label;
        std::sort(labels.begin(), labels.end());
        EXPECT_TRUE(label_sets.insert(labels).second) << name << ": " << family.name;
      }
    }
  }
}

class SerializedScrape : public ::testing::TestWithParam<const char*> {};

TEST_P(SerializedScrape, NamesArePrefixedAndEachFamilyHasATypeLine) {
  const auto families = scrape(fixture(GetParam()));
  const std::string text = serialize(families);

  ASSERT_THAT(families, Not(IsEmpty()));
  for (const MetricFamily& family : families) {
    EXPECT_THAT(family.name, StartsWith("lpmon_"));
    EXPECT_THAT(text, HasSubstr("# TYPE " + family.name + " gauge\n"));
  }
  std::size_t type_lines = 0;
  for (std::size_t at = text.find("# TYPE "); at != std::string::npos;
       at = text.find("# TYPE ", at + 1)) {
    ++type_lines;
  }
  EXPECT_EQ(type_lines, families.size());
}

TEST_P(SerializedScrape, SamplesAppearInTheText) {
  const std::string text = serialize(scrape(fixture(GetParam())));

  EXPECT_THAT(text, HasSubstr("lpmon_livepatch_supported 1\n"));
  EXPECT_THAT(text, HasSubstr("lpmon_exporter_build_info{version=\"9.8.7-test\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lpmon_kernel_tainted{flag=\"livepatch\",letter=\"K\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lpmon_scrape_read_errors 0\n"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SerializedScrape,
                         ::testing::Values("linux-6.1-patched", "linux-6.14-transition"));

TEST(SerializedScrapeText, KernelWithoutLivepatch) {
  FakeKernelTree tree;
  tree.set_kernel("6.18.44", 0);

  const auto families = scrape(tree.paths());
  const std::string text = serialize(families);

  for (const MetricFamily& family : families) {
    EXPECT_THAT(family.name, StartsWith("lpmon_"));
    EXPECT_THAT(text, HasSubstr("# TYPE " + family.name + " gauge\n"));
  }
  EXPECT_THAT(text, HasSubstr("lpmon_livepatch_supported 0\n"));
  EXPECT_THAT(text, HasSubstr("lpmon_kernel_info{release=\"6.18.44\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("lpmon_patch_")));
}

TEST(SerializedScrapeText, PatchSamplesOfLinux614) {
  const std::string text = serialize(scrape(fixture("linux-6.14-transition")));

  EXPECT_THAT(text, HasSubstr("lpmon_patch_in_transition{patch=\"kpatch_cve_b\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lpmon_patch_replace{patch=\"kpatch_cve_b\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lpmon_patch_functions{patch=\"kpatch_cve_a\"} 3\n"));
}

}  // namespace
}  // namespace lpmon::exporter
