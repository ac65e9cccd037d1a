// The one reduction of transition events, which lpmon apply's follower and the exporter share.
#include "lpmon/bpf/transition_reducer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "trace_events.hpp"

namespace lpmon::bpf {
namespace {

using std::chrono::milliseconds;
using K = TransitionKind;
using R = TransitionResult;

using testing::transition_event;

RoundEvent round(const std::string& patch, std::uint32_t n, std::uint32_t blocked) {
  RoundEvent r;
  r.patch = patch;
  r.round = n;
  r.blocked = blocked;
  r.sleeping_in_function = blocked;
  return r;
}

TaskBlockedEvent blocked_task(const std::string& patch, pid_t pid, BlockReason reason) {
  TaskBlockedEvent e;
  e.patch = patch;
  e.pid = pid;
  e.comm = "task" + std::to_string(pid);
  e.reason = reason;
  e.function = reason == BlockReason::sleeping_in_function ? "f" : "";
  return e;
}

TEST(TransitionReducer, AStartIsInFlightUntilItsEnd) {
  TransitionReducer reducer;
  EXPECT_FALSE(reducer.record(transition_event(K::start, "p", true, milliseconds(1000))));
  const TransitionState* flying = reducer.find("p");
  ASSERT_NE(flying, nullptr);
  EXPECT_TRUE(flying->start_seen);
  EXPECT_FALSE(flying->began_before_trace);
  EXPECT_EQ(flying->started, milliseconds(1000));
  EXPECT_FALSE(flying->ended);

  const auto ended = reducer.record(
      transition_event(K::end, "p", true, milliseconds(2500), milliseconds(1500), R::complete, 2));
  ASSERT_TRUE(ended);
  EXPECT_TRUE(ended->ended);
  EXPECT_EQ(ended->patch, "p");
  EXPECT_TRUE(ended->patching);
  EXPECT_EQ(ended->result, R::complete);
  EXPECT_EQ(ended->duration, milliseconds(1500));
  EXPECT_EQ(ended->ended_at, milliseconds(2500));
  EXPECT_EQ(ended->started, milliseconds(1000));
  EXPECT_EQ(ended->rounds, 2u);
  EXPECT_EQ(reducer.find("p"), nullptr);
  EXPECT_TRUE(reducer.in_flight().empty());
}

TEST(TransitionReducer, ARoundGivesTheCountAndTheTasksItLeft) {
  TransitionReducer reducer;
  reducer.record(transition_event(K::start, "p", true, milliseconds(1000)));
  reducer.record(round("p", 1, 3));
  reducer.record(round("p", 2, 1));
  const TransitionState* flying = reducer.find("p");
  ASSERT_NE(flying, nullptr);
  EXPECT_EQ(flying->rounds, 2u);
  ASSERT_TRUE(flying->last_round);
  EXPECT_EQ(flying->last_round->blocked, 1u);
}

TEST(TransitionReducer, EveryBlockingTaskIsKeptByPidWithItsLastReason) {
  TransitionReducer reducer;
  reducer.record(transition_event(K::start, "p", true, milliseconds(1000)));
  reducer.record(blocked_task("p", 10, BlockReason::running));
  reducer.record(blocked_task("p", 11, BlockReason::sleeping_in_function));
  reducer.record(blocked_task("p", 10, BlockReason::unreliable_stack));
  reducer.record(blocked_task("other", 12, BlockReason::running));

  const auto ended = reducer.record(
      transition_event(K::end, "p", true, milliseconds(3000), milliseconds(2000), R::complete));
  ASSERT_TRUE(ended);
  ASSERT_EQ(ended->blockers.size(), 2u);
  EXPECT_EQ(ended->blockers.at(10).reason, BlockReason::unreliable_stack);
  EXPECT_EQ(ended->blockers.at(10).comm, "task10");
  EXPECT_EQ(ended->blockers.at(11).function, "f");
  // The other patch's task stays with the other patch.
  ASSERT_NE(reducer.find("other"), nullptr);
  EXPECT_EQ(reducer.find("other")->blockers.size(), 1u);
}

TEST(TransitionReducer, AReversalTurnsTheDirection) {
  TransitionReducer reducer;
  reducer.record(transition_event(K::start, "p", false, milliseconds(3000)));
  EXPECT_FALSE(reducer.find("p")->patching);
  reducer.record(transition_event(K::reverse, "p", true, milliseconds(3100)));
  EXPECT_TRUE(reducer.find("p")->patching);
  const auto ended = reducer.record(
      transition_event(K::end, "p", true, milliseconds(3200), milliseconds(200), R::reversed));
  ASSERT_TRUE(ended);
  EXPECT_TRUE(ended->patching);
  EXPECT_EQ(ended->result, R::reversed);
}

TEST(TransitionReducer, AReversalOfAnUnknownTransitionIsIgnored) {
  TransitionReducer reducer;
  EXPECT_FALSE(reducer.record(transition_event(K::reverse, "p", true, milliseconds(10))));
  EXPECT_TRUE(reducer.in_flight().empty());
}

TEST(TransitionReducer, ANewStartForgetsTheEarlierTransition) {
  TransitionReducer reducer;
  reducer.record(transition_event(K::start, "p", true, milliseconds(1000)));
  reducer.record(round("p", 4, 2));
  reducer.record(blocked_task("p", 10, BlockReason::running));
  reducer.record(transition_event(K::start, "p", false, milliseconds(5000)));
  const TransitionState* flying = reducer.find("p");
  ASSERT_NE(flying, nullptr);
  EXPECT_FALSE(flying->patching);
  EXPECT_EQ(flying->started, milliseconds(5000));
  EXPECT_EQ(flying->rounds, 0u);
  EXPECT_FALSE(flying->last_round);
  EXPECT_TRUE(flying->blockers.empty());
}

TEST(TransitionReducer, ATransitionFoundInProgressBeganBeforeTheTrace) {
  TransitionReducer reducer;
  reducer.record(transition_event(K::in_progress, "p", true, milliseconds(7000)));
  const TransitionState* flying = reducer.find("p");
  ASSERT_NE(flying, nullptr);
  EXPECT_TRUE(flying->start_seen);
  EXPECT_TRUE(flying->began_before_trace);
  EXPECT_EQ(flying->started, milliseconds(7000));  // the first sight
  auto end =
      transition_event(K::end, "p", true, milliseconds(9000), milliseconds(2000), R::complete);
  end.began_before_trace = true;
  const auto ended = reducer.record(end);
  ASSERT_TRUE(ended);
  EXPECT_TRUE(ended->began_before_trace);
}

TEST(TransitionReducer, RoundsAndTasksWithoutAStartAreKeptWithoutOne) {
  TransitionReducer reducer;
  reducer.record(round("p", 3, 2));
  reducer.record(blocked_task("p", 10, BlockReason::running));
  const TransitionState* flying = reducer.find("p");
  ASSERT_NE(flying, nullptr);
  EXPECT_FALSE(flying->start_seen);
  EXPECT_EQ(flying->rounds, 3u);
  EXPECT_EQ(flying->blockers.size(), 1u);

  // Its end still ends it, with the kernel's figures and what was seen of it.
  const auto ended = reducer.record(
      transition_event(K::end, "p", true, milliseconds(9000), milliseconds(4000), R::complete, 4));
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->rounds, 4u);
  EXPECT_EQ(ended->started, milliseconds(5000));
  EXPECT_EQ(ended->blockers.size(), 1u);
  EXPECT_TRUE(reducer.in_flight().empty());
}

TEST(TransitionReducer, AnEndAloneIsATransition) {
  TransitionReducer reducer;
  const auto ended = reducer.record(
      transition_event(K::end, "p", false, milliseconds(900), milliseconds(300), R::cancelled));
  ASSERT_TRUE(ended);
  EXPECT_FALSE(ended->start_seen);
  EXPECT_FALSE(ended->patching);
  EXPECT_EQ(ended->result, R::cancelled);
  EXPECT_EQ(ended->started, milliseconds(600));
}

TEST(TransitionReducer, ForgetDropsOnlyThatPatch) {
  TransitionReducer reducer;
  reducer.record(transition_event(K::start, "a", true, milliseconds(1)));
  reducer.record(transition_event(K::start, "b", true, milliseconds(2)));
  reducer.forget("a");
  EXPECT_EQ(reducer.find("a"), nullptr);
  EXPECT_NE(reducer.find("b"), nullptr);
}

}  // namespace
}  // namespace lpmon::bpf
