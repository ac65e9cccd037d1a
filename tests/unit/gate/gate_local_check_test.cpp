#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lpmon/gate/local_check.hpp"
#include "lpmon/kernel_info.hpp"

namespace lpmon::gate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::uint64_t bit(std::string_view name) {
  for (const TaintFlag& flag : known_taint_flags()) {
    if (flag.name == name) return std::uint64_t{1} << flag.bit;
  }
  return 0;
}

LocalCheck transition_within(Duration within) {
  LocalCheck check;
  check.kind = LocalCheck::Kind::transition_finished;
  check.within = within;
  return check;
}

TEST(LocalCheck, TransitionFinished) {
  const LocalCheck check = transition_within(30s);
  LocalObservation seen;
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::inconclusive);  // nothing observed

  seen.transition_duration = 12500ms;
  seen.transition_finished = true;
  Evaluation done = evaluate_local_check(check, seen);
  EXPECT_EQ(done.phase, Phase::successful);
  EXPECT_THAT(done.value, ElementsAre(12.5));

  seen.transition_duration = 31s;
  Evaluation slow = evaluate_local_check(check, seen);
  EXPECT_EQ(slow.phase, Phase::failed);
  EXPECT_EQ(slow.message, "the transition took 31s, more than 30s");

  seen.transition_finished = false;
  seen.transition_duration = 10s;
  Evaluation running = evaluate_local_check(check, seen);
  EXPECT_EQ(running.phase, Phase::inconclusive);  // may still finish in time
  EXPECT_EQ(running.message, "the transition is still running after 10s (limit 30s)");

  seen.transition_duration = 45s;
  EXPECT_EQ(evaluate_local_check(check, seen).message,
            "the transition is still running after 45s, more than 30s");
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::failed);
}

TEST(LocalCheck, NoBlockingTasks) {
  LocalCheck check;
  check.kind = LocalCheck::Kind::no_blocking_tasks;
  LocalObservation seen;
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::inconclusive);
  seen.blocking_tasks.emplace();
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::successful);
  for (int pid = 100; pid < 107; ++pid) seen.blocking_tasks->push_back({pid, "worker"});
  const Evaluation blocked = evaluate_local_check(check, seen);
  EXPECT_EQ(blocked.phase, Phase::failed);
  EXPECT_THAT(blocked.value, ElementsAre(7));
  EXPECT_EQ(blocked.message,
            "7 task(s) block the transition: 100 (worker), 101 (worker), 102 (worker), 103 "
            "(worker), 104 (worker), ...");
}

TEST(LocalCheck, NoNewTaintAllowsWhatALivepatchBrings) {
  LocalCheck check;
  check.kind = LocalCheck::Kind::no_new_taint;
  check.allowed_taint = livepatch_taint_mask();
  LocalObservation seen;
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::inconclusive);

  seen.taint_before = bit("proprietary_module") | bit("warn");  // old taint is not news
  seen.taint_after =
      *seen.taint_before | bit("livepatch") | bit("oot_module") | bit("unsigned_module");
  seen.kernel_warnings = 0;
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::successful);

  seen.taint_after = *seen.taint_after | bit("die") | bit("softlockup");
  Evaluation tainted = evaluate_local_check(check, seen);
  EXPECT_EQ(tainted.phase, Phase::failed);
  EXPECT_THAT(tainted.value, ElementsAre(2, 0));
  EXPECT_EQ(tainted.message, "new taint: die (D), softlockup (L)");

  // W was set before the patch: only the log shows a new warning.
  seen.taint_after = *seen.taint_before | bit("livepatch");
  seen.kernel_warnings = 2;
  Evaluation warned = evaluate_local_check(check, seen);
  EXPECT_EQ(warned.phase, Phase::failed);
  EXPECT_EQ(warned.message, "2 kernel warning/BUG/Oops report(s) logged");

  check.allowed_taint = bit("livepatch");  // a gate that wants signed, in-tree-built patches
  seen.kernel_warnings = 0;
  seen.taint_after = *seen.taint_before | bit("livepatch") | bit("oot_module");
  EXPECT_EQ(evaluate_local_check(check, seen).message, "new taint: oot_module (O)");
}

TEST(LocalCheck, CallOverhead) {
  LocalCheck check;
  check.kind = LocalCheck::Kind::call_overhead;
  check.max_overhead = 0.05;
  LocalObservation seen;
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::inconclusive);
  seen.call_overhead = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::inconclusive);
  seen.call_overhead = 0.05;
  EXPECT_EQ(evaluate_local_check(check, seen).phase, Phase::successful);
  seen.call_overhead = 0.123;
  const Evaluation slow = evaluate_local_check(check, seen);
  EXPECT_EQ(slow.phase, Phase::failed);
  EXPECT_EQ(slow.message, "patched calls cost 12.3% more, above 5%");
}

TEST(LocalCheck, KindNamesAreTheGateFilesOwn) {
  EXPECT_STREQ(to_string(LocalCheck::Kind::transition_finished), "transitionFinished");
  EXPECT_STREQ(to_string(LocalCheck::Kind::no_blocking_tasks), "noBlockingTasks");
  EXPECT_STREQ(to_string(LocalCheck::Kind::no_new_taint), "noNewTaint");
  EXPECT_STREQ(to_string(LocalCheck::Kind::call_overhead), "callOverhead");
}

}  // namespace
}  // namespace lpmon::gate
