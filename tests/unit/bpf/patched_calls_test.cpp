#include <linux/types.h>
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "fake_kernel_tree.hpp"
#include "lpmon/bpf/patched_calls.hpp"
#include "lpmon/bpf/probe.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/livepatch_state.hpp"

extern "C" {
#include "patched_calls.h"
}

namespace lpmon::bpf {
namespace {

using ::testing::ElementsAre;
using testing::FakeKernelTree;
using ::testing::HasSubstr;

TEST(Log2Histogram, SlotBoundsMatchTheBpfBuckets) {
  // log2_slot() in patched_calls.bpf.c: 0 and 1 ns in slot 0, [2^i, 2^(i+1)) in slot i.
  EXPECT_EQ(Log2Histogram::slot_low(0), 0u);
  EXPECT_EQ(Log2Histogram::slot_high(0), 1u);
  EXPECT_EQ(Log2Histogram::slot_low(1), 2u);
  EXPECT_EQ(Log2Histogram::slot_high(1), 3u);
  EXPECT_EQ(Log2Histogram::slot_low(10), 1024u);
  EXPECT_EQ(Log2Histogram::slot_high(10), 2047u);
  EXPECT_EQ(Log2Histogram::slot_low(31), std::uint64_t{1} << 31);
  EXPECT_EQ(Log2Histogram::slot_high(31), std::numeric_limits<std::uint64_t>::max());
}

TEST(CallCounters, SinceIsTheDifferenceAndAddingItBackRestores) {
  CallCounters before{.calls = 10, .timed = 9, .total_ns = 900, .latency = {}};
  before.latency.slots[8] = 9;
  CallCounters after{.calls = 25, .timed = 23, .total_ns = 2500, .latency = {}};
  after.latency.slots[8] = 20;
  after.latency.slots[12] = 3;

  const CallCounters delta = after.since(before);

  EXPECT_EQ(delta.calls, 15u);
  EXPECT_EQ(delta.timed, 14u);
  EXPECT_EQ(delta.total_ns, 1600u);
  EXPECT_EQ(delta.latency.slots[8], 11u);
  EXPECT_EQ(delta.latency.slots[12], 3u);
  EXPECT_EQ(delta.latency.count(), 14u);
  before += delta;
  EXPECT_EQ(before, after);
}

lpmon_calls_stats raw_stats(__u64 calls, __u64 timed, __u64 total_ns, std::size_t slot) {
  lpmon_calls_stats raw;
  std::memset(&raw, 0, sizeof raw);
  raw.calls = calls;
  raw.timed = timed;
  raw.total_ns = total_ns;
  raw.slots[slot] = timed;
  return raw;
}

TEST(SumPerCpuCounters, AddsEveryCpusRecord) {
  const std::vector<lpmon_calls_stats> cpus{raw_stats(3, 2, 200, 6), raw_stats(0, 0, 0, 0),
                                            raw_stats(5, 5, 5000, 9)};
  const auto* bytes = reinterpret_cast<const std::byte*>(cpus.data());

  const CallCounters sum = sum_per_cpu_counters({bytes, cpus.size() * sizeof(lpmon_calls_stats)});

  EXPECT_EQ(sum.calls, 8u);
  EXPECT_EQ(sum.timed, 7u);
  EXPECT_EQ(sum.total_ns, 5200u);
  EXPECT_EQ(sum.latency.slots[6], 2u);
  EXPECT_EQ(sum.latency.slots[9], 5u);
  EXPECT_EQ(sum.latency.count(), 7u);
}

TEST(SumPerCpuCounters, RejectsAPartialRecord) {
  const std::vector<std::byte> bytes(sizeof(lpmon_calls_stats) + 8);
  EXPECT_THROW(sum_per_cpu_counters(bytes), BpfError);
}

TEST(Timing, ModeNamesRoundTripAndSampledNeedsAtLeastTwo) {
  EXPECT_EQ(timing_of_mode("count", 64), Timing::count_only());
  EXPECT_EQ(timing_of_mode("full", 64), Timing::full());
  EXPECT_EQ(timing_of_mode("sampled", 64), Timing::sampled(64));
  EXPECT_EQ(timing_of_mode("sampled", 1), std::nullopt);
  EXPECT_EQ(timing_of_mode("every", 64), std::nullopt);
  for (Timing t : {Timing::count_only(), Timing::full(), Timing::sampled(8)}) {
    EXPECT_EQ(timing_of_mode(mode_name(t), t.timed() ? std::max(t.every, 2u) : 2u), t);
  }
  EXPECT_EQ(to_string(Timing::sampled(8)), "sampled 1/8");
  EXPECT_FALSE(kDefaultTiming.timed() && kDefaultTiming.every == 1)
      << "the default must not time every call: BENCHMARKS.md, Cheap counting";
}

TEST(FunctionId, NamesTheModuleAndAnUnusualSympos) {
  EXPECT_EQ(to_string(FunctionId{"vmlinux", "cmdline_proc_show", 1}), "cmdline_proc_show");
  EXPECT_EQ(to_string(FunctionId{"lpmon_target", "lpmon_target_check_len", 1}),
            "lpmon_target_check_len [lpmon_target]");
  EXPECT_EQ(to_string(FunctionId{"vmlinux", "dup", 2}), "dup,2");
}

TEST(PatchedFunctions, AFunctionTwoPatchesReplaceIsOneFunctionWithBoth) {
  // Mid atomic replace: v1 and v2 both list the function.
  FakeKernelTree tree;
  for (const char* name : {"lpmon_fixes_v2", "lpmon_fixes_v1"}) {
    const auto dir = tree.add_patch(name, true, false);
    FakeKernelTree::write(dir / "lpmon_target" / "patched", "1");
    FakeKernelTree::add_func(dir, "lpmon_target", "lpmon_target_check_len", 1);
  }
  FakeKernelTree::add_func(tree.livepatch_dir() / "lpmon_fixes_v2", "lpmon_target",
                           "lpmon_target_wait_released", 1);
  const auto module_dir = tree.paths().sysfs / "module" / "lpmon_target";
  std::filesystem::create_directories(module_dir);
  struct stat st {};
  ASSERT_EQ(::stat(module_dir.c_str(), &st), 0);

  const auto found = patched_functions(read_patches(tree.paths()), tree.paths());

  ASSERT_EQ(found.size(), 2u);
  const auto& check_len = found.at({"lpmon_target", "lpmon_target_check_len", 1});
  EXPECT_THAT(check_len.patches, ElementsAre("lpmon_fixes_v1", "lpmon_fixes_v2"));
  EXPECT_TRUE(check_len.object_loaded);
  EXPECT_EQ(check_len.object_instance, std::to_string(st.st_ino));  // tells a reloaded module
  EXPECT_THAT(found.at({"lpmon_target", "lpmon_target_wait_released", 1}).patches,
              ElementsAre("lpmon_fixes_v2"));
}

TEST(PatchedFunctions, AnObjectNotLoadedCannotBeObserved) {
  FakeKernelTree tree;
  const auto dir = tree.add_patch("lp", true, false);
  FakeKernelTree::write(dir / "unloaded_mod" / "patched", "0");
  FakeKernelTree::add_func(dir, "unloaded_mod", "f", 1);
  // Kernels without the 'patched' file: loaded when /sys/module has it, vmlinux always.
  FakeKernelTree::add_func(dir, "old_kernel_mod", "g", 1);
  FakeKernelTree::add_func(dir, "vmlinux", "h", 1);
  std::filesystem::create_directories(tree.paths().sysfs / "module" / "old_kernel_mod");

  const auto found = patched_functions(read_patches(tree.paths()), tree.paths());

  EXPECT_FALSE(found.at({"unloaded_mod", "f", 1}).object_loaded);
  EXPECT_TRUE(found.at({"old_kernel_mod", "g", 1}).object_loaded);
  EXPECT_TRUE(found.at({"vmlinux", "h", 1}).object_loaded);
  EXPECT_EQ(found.at({"vmlinux", "h", 1}).object_instance, "");
}

TEST(PatchedFunctions, AModuleKlpPatchedBeforeItsSysfsDirectoryExistsIsNotYetLoaded) {
  FakeKernelTree tree;
  const auto dir = tree.add_patch("lp", true, false);
  FakeKernelTree::write(dir / "coming_mod" / "patched", "1");
  FakeKernelTree::add_func(dir, "coming_mod", "f", 1);

  EXPECT_FALSE(patched_functions(read_patches(tree.paths()), tree.paths())
                   .at({"coming_mod", "f", 1})
                   .object_loaded);
  std::filesystem::create_directories(tree.paths().sysfs / "module" / "coming_mod");
  const auto found = patched_functions(read_patches(tree.paths()), tree.paths());
  EXPECT_TRUE(found.at({"coming_mod", "f", 1}).object_loaded);
  EXPECT_NE(found.at({"coming_mod", "f", 1}).object_instance, "");
}

void write_kallsyms(const FakeKernelTree& tree, std::string_view text) {
  std::ofstream(tree.paths().procfs / "kallsyms") << text;
}

constexpr std::string_view kKallsyms =
    "ffffffff81000000 T _stext\n"
    "ffffffff81100000 t dup\n"
    "ffffffff81100100 d dup\n"  // data of the same name: not a function
    "ffffffff81200000 t dup\n"
    "ffffffffc0350000 t dup\t[lpmon_target]\n"
    "ffffffffc035b530 t lpmon_target_check_len\t[lpmon_target]\n"
    "ffffffffc035b550 t lpmon_target_check_len_write\t[lpmon_target]\n"
    "ffffffffc0367000 t lpmon_target_check_len\t[lpmon_fixes_v1]\n";

TEST(KallsymsAddresses, CountsSymposWithinTheObjectAsLivepatchDoes) {
  FakeKernelTree tree;
  write_kallsyms(tree, kKallsyms);
  const FunctionId dup1{"vmlinux", "dup", 1};
  const FunctionId dup2{"vmlinux", "dup", 2};
  const FunctionId module_dup{"lpmon_target", "dup", 1};
  const FunctionId check_len{"lpmon_target", "lpmon_target_check_len", 1};
  const FunctionId dup3{"vmlinux", "dup", 3};
  const FunctionId wrong_object{"vmlinux", "lpmon_target_check_len", 1};

  const auto found =
      kallsyms_addresses(tree.paths(), {dup1, dup2, module_dup, check_len, dup3, wrong_object});

  EXPECT_EQ(found.size(), 4u);
  EXPECT_EQ(found.at(dup1), 0xffffffff81100000u);
  EXPECT_EQ(found.at(dup2), 0xffffffff81200000u);
  EXPECT_EQ(found.at(module_dup), 0xffffffffc0350000u);
  EXPECT_EQ(found.at(check_len), 0xffffffffc035b530u);
}

TEST(KallsymsAddresses, HiddenAddressesSayWhy) {
  FakeKernelTree tree;
  write_kallsyms(tree, "0000000000000000 t lpmon_target_check_len\t[lpmon_target]\n");

  try {
    kallsyms_addresses(tree.paths(), {{"lpmon_target", "lpmon_target_check_len", 1}});
    FAIL() << "expected KernelError";
  } catch (const KernelError& error) {
    EXPECT_THAT(error.what(), HasSubstr("run as root"));
  }
}

TEST(KallsymsAddresses, UnreadableKallsymsIsAKernelError) {
  FakeKernelTree tree;  // no kallsyms
  EXPECT_THROW(kallsyms_addresses(tree.paths(), {{"vmlinux", "f", 1}}), KernelError);
}

}  // namespace
}  // namespace lpmon::bpf
