// Cancelled transitions from the kernel log, when the probes are blind (ftrace off), and not
// twice when they are not. The log lines are 6.1's, as a guest logged them.
#include "lpmon/bpf/logged_cancellations.hpp"

#include <gtest/gtest.h>

namespace lpmon::bpf {
namespace {

using namespace std::chrono_literals;

KernelLogRecord record(std::uint64_t usec, std::string message) {
  return KernelLogRecord{.level = 4, .seq = usec, .usec = usec, .message = std::move(message)};
}

TransitionEvent probe(TransitionKind kind, bool patching, TransitionResult result,
                      std::string patch) {
  return TransitionEvent{.kind = kind, .patching = patching, .result = result, .patch = patch};
}

TEST(LoggedCancellations, FtraceOffTheLogAloneMakesAStartAndACancelledEnd) {
  LoggedCancellations c;
  EXPECT_TRUE(c.from_log(record(1'000'000, "livepatch: enabling patch 'lpmon_fixes_v1'")).empty());
  EXPECT_TRUE(c.from_log(record(1'000'100,
                                "livepatch: failed to register ftrace handler for "
                                "function 'cmdline_proc_show' (-16)"))
                  .empty());
  EXPECT_TRUE(c.from_log(record(1'000'200, "livepatch: failed to patch object 'vmlinux'")).empty());
  const auto events =
      c.from_log(record(1'000'300, "livepatch: failed to enable patch 'lpmon_fixes_v1'"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, TransitionKind::start);
  EXPECT_TRUE(events[0].patching);
  EXPECT_EQ(events[0].patch, "lpmon_fixes_v1");
  EXPECT_EQ(events[0].timestamp, 1'000'000us);
  EXPECT_EQ(events[1].kind, TransitionKind::end);
  EXPECT_EQ(events[1].result, TransitionResult::cancelled);
  EXPECT_FALSE(events[1].patching);  // as klp_cancel_transition leaves it, as the probes say
  EXPECT_EQ(events[1].duration, 300us);
  EXPECT_EQ(events[1].rounds, 0u);
}

TEST(LoggedCancellations, ProbesEndBeforeTheLogIsReadIsNotCountedTwice) {
  LoggedCancellations c;
  c.saw(probe(TransitionKind::start, true, TransitionResult::none, "lpmon_refuse"));
  c.saw(probe(TransitionKind::end, false, TransitionResult::cancelled, "lpmon_refuse"));
  EXPECT_TRUE(c.from_log(record(5, "livepatch: enabling patch 'lpmon_refuse'")).empty());
  EXPECT_TRUE(c.from_log(record(6, "livepatch: failed to enable patch 'lpmon_refuse'")).empty());
}

TEST(LoggedCancellations, ProbesEndArrivingAfterTheLogIsNotCountedTwice) {
  LoggedCancellations c;
  c.saw(probe(TransitionKind::start, true, TransitionResult::none, "lpmon_refuse"));
  EXPECT_TRUE(c.from_log(record(6, "livepatch: failed to enable patch 'lpmon_refuse'")).empty());
  c.saw(probe(TransitionKind::end, false, TransitionResult::cancelled, "lpmon_refuse"));
  // The books are even: a later blind failure is reported again.
  EXPECT_EQ(c.from_log(record(9, "livepatch: failed to enable patch 'lpmon_refuse'")).size(), 2u);
}

TEST(LoggedCancellations, EachBlindAttemptIsReported) {
  LoggedCancellations c;
  // busybox insmod tries finit_module, then init_module: two attempts, two cancellations.
  for (std::uint64_t t : {10u, 20u}) {
    c.from_log(record(t, "livepatch: enabling patch 'p'"));
    EXPECT_EQ(c.from_log(record(t + 1, "livepatch: failed to enable patch 'p'")).size(), 2u);
  }
}

TEST(LoggedCancellations, OtherRecordsAndLookalikesAreIgnored) {
  LoggedCancellations c;
  for (const char* message :
       {"livepatch: 'p': starting patching transition", "livepatch: 'p': patching complete",
        "p: failed to enable patch 'p'", "livepatch: failed to enable patch p",
        "livepatch: failed to enable patch ''"}) {
    EXPECT_TRUE(c.from_log(record(1, message)).empty()) << message;
  }
}

}  // namespace
}  // namespace lpmon::bpf
