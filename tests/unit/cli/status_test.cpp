#include "status.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_kernel_tree.hpp"
#include "fixtures.hpp"
#include "lpmon/errors.hpp"

namespace lpmon::cli {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using testing::FakeKernelTree;
using testing::fixture;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(StatusExitCode, OneCodePerState) {
  EXPECT_EQ(status_exit_code(LivepatchState::patched), ExitCode::ok);
  EXPECT_EQ(status_exit_code(LivepatchState::unpatched), ExitCode::unpatched);
  EXPECT_EQ(status_exit_code(LivepatchState::in_transition), ExitCode::in_transition);
  EXPECT_EQ(status_exit_code(LivepatchState::unknown), ExitCode::runtime_error);
  EXPECT_EQ(to_int(ExitCode::no_livepatch), 5);
}

TEST(BuildStatusReport, PatchedKernel) {
  const StatusReport report = build_status_report(fixture("linux-6.1-patched"));

  EXPECT_EQ(report.kernel_release, "6.1.0-56-amd64");
  EXPECT_EQ(report.taint.letters(), "OEK");
  EXPECT_EQ(report.state, LivepatchState::patched);
  EXPECT_EQ(report.transition, std::nullopt);
  EXPECT_EQ(report.patches.size(), 1u);
}

TEST(BuildStatusReport, TransitionReportsPendingTasks) {
  const StatusReport report = build_status_report(fixture("linux-6.14-transition"));

  EXPECT_EQ(report.state, LivepatchState::in_transition);
  ASSERT_TRUE(report.transition.has_value());
  EXPECT_EQ(report.transition->patch, "kpatch_cve_b");
  EXPECT_EQ(report.transition->target_state, kTaskPatched);
  EXPECT_THAT(report.transition->tasks.not_at_target, ElementsAre(17, 100));
}

TEST(BuildStatusReport, DisablingPatchTargetsUnpatched) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  tree.add_patch("lp", false, true);
  tree.set_task_state(5, "1");
  tree.set_task_state(6, "0");

  const StatusReport report = build_status_report(tree.paths());

  ASSERT_TRUE(report.transition.has_value());
  EXPECT_EQ(report.transition->target_state, kTaskUnpatched);
  EXPECT_THAT(report.transition->tasks.not_at_target, ElementsAre(5));
}

TEST(BuildStatusReport, OnlyDisabledPatchesIsUnpatched) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  tree.add_patch("lp", false, false);

  const StatusReport report = build_status_report(tree.paths());

  EXPECT_EQ(status_exit_code(report.state), ExitCode::unpatched);
}

TEST(BuildStatusReport, MalformedPatchIsRuntimeError) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  FakeKernelTree::write(tree.add_patch("lp", true, false) / "enabled", "abc");

  const StatusReport report = build_status_report(tree.paths());

  EXPECT_EQ(status_exit_code(report.state), ExitCode::runtime_error);
}

TEST(BuildStatusReport, NoLivepatchThrowsUnsupported) {
  FakeKernelTree tree;
  tree.set_kernel("6.18.44", 0);
  EXPECT_THROW(build_status_report(tree.paths()), LivepatchUnsupportedError);
}

TEST(StatusJson, Linux61ShapeUsesNullForMissingFiles) {
  const json doc = status_to_json(build_status_report(fixture("linux-6.1-patched")));

  EXPECT_EQ(doc.at("kernel_release"), "6.1.0-56-amd64");
  EXPECT_EQ(doc.at("livepatch_supported"), true);
  EXPECT_EQ(doc.at("taint"), json({{"mask", 45056},
                                   {"letters", "OEK"},
                                   {"flags", {"oot_module", "unsigned_module", "livepatch"}},
                                   {"unknown_bits", 0}}));
  EXPECT_EQ(doc.at("state"), "patched");
  EXPECT_TRUE(doc.at("transition").is_null());

  const json& patch = doc.at("patches").at(0);
  EXPECT_EQ(patch.at("name"), "livepatch_sample");
  EXPECT_EQ(patch.at("enabled"), true);
  EXPECT_EQ(patch.at("transition"), false);
  EXPECT_TRUE(patch.at("replace").is_null());
  EXPECT_TRUE(patch.at("stack_order").is_null());
  EXPECT_TRUE(patch.at("errors").empty());
  EXPECT_EQ(patch.at("objects"), json::parse(R"([{"name": "vmlinux", "patched": true,
                             "functions": [{"name": "cmdline_proc_show", "sympos": 1}]}])"));
}

TEST(StatusJson, TransitionShape) {
  const json doc = status_to_json(build_status_report(fixture("linux-6.14-transition")));

  EXPECT_EQ(doc.at("state"), "in_transition");
  EXPECT_EQ(doc.at("patches").at(1).at("replace"), true);
  EXPECT_EQ(doc.at("patches").at(1).at("stack_order"), 2);
  EXPECT_EQ(doc.at("transition"), json::parse(R"json({"patch": "kpatch_cve_b", "target": "patched",
                                                  "tasks": {"idle": 0, "unpatched": 2, "patched": 3},
                                                  "pending_pids": [17, 100],
                                                  "running_seconds": null,
                                                  "pending_tasks": [
        {"pid": 17, "comm": "cat (x)", "state": "S", "reason": "sleeping_in_function",
         "function": "show_stat", "stack": ["show_stat", "seq_read_iter", "vfs_read",
         "ksys_read", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]},
        {"pid": 100, "comm": "worker", "state": "R", "reason": "running", "function": null,
         "stack": []}]})json"));
}

TEST(StatusText, NamesEachBlockingTaskWithWhyAndStack) {
  const std::string text =
      render_status_text(build_status_report(fixture("linux-6.14-transition")));
  EXPECT_THAT(text, HasSubstr("Blocking:        17 cat (x) (S): sleeping in show_stat\n"
                              "                   show_stat\n"
                              "                   seq_read_iter\n"));
  EXPECT_THAT(text, HasSubstr("Blocking:        100 worker (R): running (its stack cannot be "
                              "checked)\n"));
}

TEST(StatusText, PatchLevelListsTheEnabledPatchesAndTheirCves) {
  const std::string text = render_status_text(build_status_report(fixture("linux-6.1-patched")));
  EXPECT_THAT(text, HasSubstr("Patch level:     livepatch_sample\n"));
  const std::string stacked =
      render_status_text(build_status_report(fixture("linux-6.14-transition")));
  EXPECT_THAT(stacked, HasSubstr("Patch level:     kpatch_cve_a, kpatch_cve_b (in transition)\n"));
}

TEST(StatusText, AlignedFieldsAndSummary) {
  const std::string text = render_status_text(build_status_report(fixture("linux-6.1-patched")));

  EXPECT_THAT(text, StartsWith("Kernel release:  6.1.0-56-amd64\n"
                               "Livepatch:       supported\n"
                               "Taint:           OEK (45056)\n"));
  EXPECT_THAT(text, HasSubstr("\nlivepatch_sample\n"
                              "  Enabled:       yes\n"
                              "  Transition:    no\n"
                              "  Replace:       n/a\n"
                              "  Stack order:   n/a\n"
                              "  Object:        vmlinux (patched: yes)\n"
                              "                   cmdline_proc_show,1\n"));
  EXPECT_THAT(text, EndsWith("\nState:           patched\n"));
}

TEST(StatusText, TransitionLineNamesPendingPids) {
  const std::string text =
      render_status_text(build_status_report(fixture("linux-6.14-transition")));

  EXPECT_THAT(text, HasSubstr("Transition:      kpatch_cve_b -> patched, 2 of 5 tasks pending "
                              "(pids 17 100)\n"));
  EXPECT_THAT(text, EndsWith("State:           in transition\n"));
}

TEST(StatusText, ErrorsAreShownAndStateIsUnknown) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  FakeKernelTree::write(tree.add_patch("lp", true, false) / "enabled", "abc");

  const std::string text = render_status_text(build_status_report(tree.paths()));

  EXPECT_THAT(text, HasSubstr("Taint:           none\n"));
  EXPECT_THAT(text, HasSubstr("  Error:         " + tree.livepatch_dir().string() +
                              "/lp/enabled: invalid value \"abc\" (expected 0 or 1)\n"));
  EXPECT_THAT(text, HasSubstr("State:           unknown"));
}

}  // namespace
}  // namespace lpmon::cli
