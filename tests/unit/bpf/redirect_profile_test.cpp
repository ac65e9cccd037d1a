// The redirect profile's classification of kernel text (bpf/redirect_profile.bpf.c's input)
// and lpmon calls --profile's arithmetic.
#include "lpmon/bpf/redirect_profile.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "profile.hpp"

namespace lpmon::bpf {
namespace {

constexpr std::string_view kKallsyms =
    "ffffffff81000000 T _stext\n"
    "ffffffff81000100 T cmdline_proc_show\n"
    "ffffffff81000200 T klp_ftrace_handler\n"
    "ffffffff81000300 T ftrace_regs_caller\n"
    "ffffffff81000380 T ftrace_regs_call\n"
    "ffffffff81000400 T unrelated\n"
    "ffffffffa0000000 t ftrace_trampoline\t[__builtin__ftrace]\n"
    "ffffffffc0000000 t lpmon_target_check_len\t[lpmon_target]\n"
    "ffffffffc0000100 t lpmon_target_check_len\t[lpmon_target]\n"
    "ffffffffc0000200 t other\t[lpmon_target]\n"
    "ffffffffc0100000 t check_len_fixed\t[lpmon_fixes_v1]\n"
    "ffffffffc0100080 t helper\t[lpmon_fixes_v1]\n"
    "ffffffffc0200000 t not_a_patch\t[e1000]\n";

TEST(RedirectProfile, RangesClassifyRedirectionPatchedFunctionsAndPatchModules) {
  KernelSymbols symbols;
  symbols.load_kallsyms(kKallsyms);
  const std::map<FunctionId, std::uint32_t> patched{
      {{"lpmon_target", "lpmon_target_check_len", 2}, 0}, {{"vmlinux", "cmdline_proc_show", 1}, 1}};
  std::map<FunctionId, std::uint32_t> replacements;
  std::uint32_t next = 2;

  const auto ranges =
      profile_ranges(symbols.ranges(), patched, {"lpmon_fixes_v1"}, replacements, next);

  ASSERT_EQ(ranges.size(), 8u);
  for (std::size_t i = 1; i < ranges.size(); ++i) EXPECT_LE(ranges[i - 1].end, ranges[i].start);
  EXPECT_EQ(ranges[0].start, 0xffffffff81000100u);  // cmdline_proc_show
  EXPECT_EQ(ranges[0].kind, ProfileRangeKind::patched);
  EXPECT_EQ(ranges[0].target, 1u);
  EXPECT_EQ(ranges[1].kind, ProfileRangeKind::redirect);  // klp_ftrace_handler
  EXPECT_EQ(ranges[1].end, 0xffffffff81000300u);
  EXPECT_EQ(ranges[2].kind, ProfileRangeKind::redirect);  // ftrace_regs_caller
  EXPECT_EQ(ranges[3].kind, ProfileRangeKind::redirect);  // ftrace_regs_call, up to 'unrelated'
  EXPECT_EQ(ranges[3].end, 0xffffffff81000400u);
  EXPECT_EQ(ranges[4].kind, ProfileRangeKind::redirect);  // a trampoline: one page at most
  EXPECT_EQ(ranges[4].end, 0xffffffffa0001000u);
  // The second lpmon_target_check_len is sympos 2, the patched one.
  EXPECT_EQ(ranges[5].start, 0xffffffffc0000100u);
  EXPECT_EQ(ranges[5].kind, ProfileRangeKind::patched);
  EXPECT_EQ(ranges[5].target, 0u);
  EXPECT_EQ(ranges[6].kind, ProfileRangeKind::replacement);
  EXPECT_EQ(ranges[7].kind, ProfileRangeKind::replacement);
  EXPECT_EQ(replacements.at({"lpmon_fixes_v1", "check_len_fixed", 1}), ranges[6].target);
  EXPECT_EQ(replacements.at({"lpmon_fixes_v1", "helper", 1}), ranges[7].target);
  EXPECT_EQ(next, 4u);

  // Indices stay with their function from one refresh to the next.
  profile_ranges(symbols.ranges(), patched, {"lpmon_fixes_v1"}, replacements, next);
  EXPECT_EQ(next, 4u);
}

TEST(RedirectProfile, OnlyFtraceAndLivepatchCodeIsRedirection) {
  EXPECT_TRUE(is_redirect_symbol("ftrace_trampoline", "__builtin__ftrace"));
  EXPECT_TRUE(is_redirect_symbol("ftrace_ops_list_func", ""));
  EXPECT_FALSE(is_redirect_symbol("klp_ftrace_handler", "some_module"));
  EXPECT_FALSE(is_redirect_symbol("ftrace_trampoline", ""));
  EXPECT_FALSE(is_redirect_symbol("schedule", ""));
}

TEST(ProfileArithmetic, ShareHasTheBinomialErrorAndSecondsFollowThePeriod) {
  const cli::Share half = cli::share_of(50, 200);
  EXPECT_DOUBLE_EQ(half.value, 0.25);
  EXPECT_NEAR(half.error, std::sqrt(0.25 * 0.75 / 200), 1e-12);
  EXPECT_DOUBLE_EQ(cli::share_of(0, 0).value, 0.0);

  RedirectSamples earlier;
  earlier.period = std::chrono::milliseconds(10);
  earlier.samples = 100;
  earlier.redirect = 10;
  earlier.redirect_by_function[{"vmlinux", "f", 1}] = 10;
  RedirectSamples now = earlier;
  now.samples = 300;
  now.redirect = 25;
  now.redirect_by_function[{"vmlinux", "f", 1}] = 25;
  now.redirect_by_function[{"vmlinux", "g", 1}] = 0;
  const RedirectSamples d = cli::samples_since(now, earlier);
  EXPECT_EQ(d.samples, 200u);
  EXPECT_EQ(d.redirect_by_function.at({"vmlinux", "f", 1}), 15u);
  EXPECT_DOUBLE_EQ(d.seconds(15), 0.15);
}

}  // namespace
}  // namespace lpmon::bpf
