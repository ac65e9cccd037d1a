// The follower never takes what it cannot read for the end of a transition, and checks
// `enabled` at the end (issue 13, item 7). Polling sysfs, on fake trees.
#include "lpmon/rollout/transition_follower.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "fake_kernel_tree.hpp"

namespace lpmon::rollout {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using Presence = PatchTransitionState::Presence;

TransitionOutcome follow(const testing::FakeKernelTree& tree, const std::string& patch,
                         bool patching, std::chrono::milliseconds limit) {
  TransitionFollower follower(tree.paths(), {}, /*use_bpf=*/false);
  const auto now = Clock::now();
  return follower.wait(patch, patching, now, now + limit);
}

TEST(SysfsResult, OnlyAReadableSettledStateEndsATransition) {
  EXPECT_FALSE(sysfs_result({Presence::unreadable, false, false, "x"}, true));
  EXPECT_FALSE(sysfs_result({Presence::unreadable, false, false, "x"}, false));
  EXPECT_FALSE(sysfs_result({Presence::present, true, true, ""}, true));
  EXPECT_EQ(sysfs_result({Presence::present, false, true, ""}, true),
            bpf::TransitionResult::complete);
  EXPECT_EQ(sysfs_result({Presence::present, false, false, ""}, true),
            bpf::TransitionResult::reversed);
  EXPECT_EQ(sysfs_result({Presence::present, false, true, ""}, false),
            bpf::TransitionResult::reversed);
  // Freed at the end of unpatching: done. Vanished while patching: not a completion.
  EXPECT_EQ(sysfs_result({Presence::gone, false, false, ""}, false),
            bpf::TransitionResult::complete);
  EXPECT_EQ(sysfs_result({Presence::gone, false, false, ""}, true), bpf::TransitionResult::none);
}

TEST(TransitionFollower, UnreadableSysfsIsNotACompletion) {
  testing::FakeKernelTree tree;
  tree.enable_livepatch();
  const fs::path dir = tree.add_patch("lp", true, false);
  fs::remove(dir / "transition");
  fs::create_directory(dir / "transition");  // reading it fails (EISDIR)
  const TransitionOutcome outcome = follow(tree, "lp", true, std::chrono::milliseconds(300));
  EXPECT_FALSE(outcome.finished);
  EXPECT_THAT(outcome.problem, HasSubstr("cannot read"));
}

TEST(TransitionFollower, APatchThatVanishesWhileApplyingDidNotComplete) {
  testing::FakeKernelTree tree;
  tree.enable_livepatch();
  const TransitionOutcome outcome = follow(tree, "lp", true, std::chrono::seconds(5));
  EXPECT_NE(outcome.result, bpf::TransitionResult::complete);
  EXPECT_THAT(outcome.problem, HasSubstr("vanished"));
}

TEST(TransitionFollower, APatchDisabledAtTheEndOfApplyingWasReversed) {
  testing::FakeKernelTree tree;
  tree.enable_livepatch();
  tree.add_patch("lp", false, false);
  const TransitionOutcome outcome = follow(tree, "lp", true, std::chrono::seconds(5));
  EXPECT_TRUE(outcome.finished);
  EXPECT_EQ(outcome.result, bpf::TransitionResult::reversed);
  EXPECT_FALSE(outcome.problem.empty());
}

TEST(TransitionFollower, SettledStatesInTheExpectedDirectionComplete) {
  testing::FakeKernelTree tree;
  tree.enable_livepatch();
  tree.add_patch("lp", true, false);
  const TransitionOutcome applied = follow(tree, "lp", true, std::chrono::seconds(5));
  EXPECT_TRUE(applied.finished);
  EXPECT_EQ(applied.result, bpf::TransitionResult::complete);
  EXPECT_EQ(applied.problem, "");
  // Unpatching ends when klp frees the patch.
  const TransitionOutcome reverted = follow(tree, "gone", false, std::chrono::seconds(5));
  EXPECT_TRUE(reverted.finished);
  EXPECT_EQ(reverted.result, bpf::TransitionResult::complete);
}

TEST(TransitionFollower, ARunningTransitionIsNotFinishedAtTheDeadline) {
  testing::FakeKernelTree tree;
  tree.enable_livepatch();
  tree.add_patch("lp", true, true);
  const TransitionOutcome outcome = follow(tree, "lp", true, std::chrono::milliseconds(300));
  EXPECT_FALSE(outcome.finished);
  EXPECT_EQ(outcome.problem, "");
}

}  // namespace
}  // namespace lpmon::rollout
