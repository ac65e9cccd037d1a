#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_kernel_tree.hpp"
#include "fixtures.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon {
namespace {

using ::testing::ElementsAre;
using testing::FakeKernelTree;
using testing::fixture;
using ::testing::IsEmpty;

TEST(TaskPatchState, ReadsEachValue) {
  FakeKernelTree tree;
  tree.set_task_state(10, "-1");
  tree.set_task_state(11, "0");
  tree.set_task_state(12, "1");

  EXPECT_EQ(task_patch_state(tree.paths(), 10), kTaskPatchIdle);
  EXPECT_EQ(task_patch_state(tree.paths(), 11), kTaskUnpatched);
  EXPECT_EQ(task_patch_state(tree.paths(), 12), kTaskPatched);
}

TEST(TaskPatchState, MissingOrMalformedIsNullopt) {
  FakeKernelTree tree;
  tree.set_task_state(20, "2");
  tree.set_task_state(21, "patched");

  EXPECT_EQ(task_patch_state(tree.paths(), 20), std::nullopt);
  EXPECT_EQ(task_patch_state(tree.paths(), 21), std::nullopt);
  EXPECT_EQ(task_patch_state(tree.paths(), 22), std::nullopt);
}

TEST(TaskPatchCensus, CountsStatesAndListsTasksNotAtTarget) {
  const TaskPatchCensus census =
      census_task_patch_states(fixture("linux-6.14-transition"), kTaskPatched);

  EXPECT_EQ(census.idle, 0u);
  EXPECT_EQ(census.unpatched, 2u);
  EXPECT_EQ(census.patched, 3u);  // 'self' is not a pid and is not counted
  EXPECT_THAT(census.not_at_target, ElementsAre(17, 100));
}

TEST(TaskPatchCensus, TargetUnpatchedListsPatchedTasks) {
  const TaskPatchCensus census =
      census_task_patch_states(fixture("linux-6.14-transition"), kTaskUnpatched);

  EXPECT_THAT(census.not_at_target, ElementsAre(1, 42, 2048));
}

TEST(TaskPatchCensus, IdleTasksAreCountedAndNotAtTarget) {
  const TaskPatchCensus census =
      census_task_patch_states(fixture("linux-6.1-patched"), kTaskPatched);

  EXPECT_EQ(census.idle, 2u);
  EXPECT_EQ(census.patched, 0u);
  EXPECT_THAT(census.not_at_target, ElementsAre(1, 412));
}

TEST(TaskPatchCensus, KernelWithoutPatchStateFilesCountsNothing) {
  FakeKernelTree tree;
  std::filesystem::create_directories(tree.paths().procfs / "7");

  const TaskPatchCensus census = census_task_patch_states(tree.paths(), kTaskPatched);

  EXPECT_EQ(census.idle + census.unpatched + census.patched, 0u);
  EXPECT_THAT(census.not_at_target, IsEmpty());
}

}  // namespace
}  // namespace lpmon
