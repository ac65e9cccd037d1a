#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "fake_kernel_tree.hpp"
#include "fixtures.hpp"
#include "run_lpmon.hpp"

namespace lpmon::cli {
namespace {

using testing::FakeKernelTree;
using testing::fixture;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

using testing::lpmon;
using testing::Outcome;

std::vector<std::string> status_args(const KernelPaths& paths) {
  return {"status", "--sysfs-root", paths.sysfs.string(), "--procfs-root", paths.procfs.string()};
}

TEST(Cli, StatusOfPatchedKernelExitsZero) {
  const Outcome outcome = lpmon(status_args(fixture("linux-6.1-patched")));

  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_THAT(outcome.out, HasSubstr("livepatch_sample"));
  EXPECT_THAT(outcome.err, IsEmpty());
}

TEST(Cli, StatusJsonIsOneDocumentAndExitCodeFollowsState) {
  auto args = status_args(fixture("linux-6.14-transition"));
  args.push_back("--json");

  const Outcome outcome = lpmon(args);

  EXPECT_EQ(outcome.exit_code, 4);
  EXPECT_EQ(nlohmann::json::parse(outcome.out).at("state"), "in_transition");
}

TEST(Cli, NoLivepatchIsOneLineAndExitFive) {
  FakeKernelTree tree;
  tree.set_kernel("6.18.44", 0);
  for (bool json : {false, true}) {
    auto args = status_args(tree.paths());
    if (json) args.push_back("--json");

    const Outcome outcome = lpmon(args);

    EXPECT_EQ(outcome.exit_code, 5);
    EXPECT_THAT(outcome.out, IsEmpty());
    EXPECT_EQ(
        outcome.err,
        "lpmon: this kernel (6.18.44) has no livepatch support: CONFIG_LIVEPATCH is off (no " +
            tree.livepatch_dir().string() + ")\n");
  }
}

TEST(Cli, UnreadableKernelStateIsRuntimeError) {
  FakeKernelTree tree;  // livepatch present, but no /proc/sys/kernel/osrelease
  tree.add_patch("lp", true, false);

  const Outcome outcome = lpmon(status_args(tree.paths()));

  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.err, StartsWith("lpmon: cannot read the kernel release from "));
}

TEST(Cli, PartlyUnreadablePatchPrintsReportAndExitsOne) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  FakeKernelTree::write(tree.add_patch("lp", true, false) / "enabled", "abc");

  const Outcome outcome = lpmon(status_args(tree.paths()));

  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.out, HasSubstr("invalid value \"abc\""));
  EXPECT_EQ(outcome.err,
            "lpmon: some livepatch state could not be read; the report lists the errors\n");
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(lpmon({}).exit_code, 2);
  EXPECT_EQ(lpmon({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(lpmon({"status", "--bogus"}).exit_code, 2);
  EXPECT_EQ(lpmon({"status", "--sysfs-root", "/nonexistent/lpmon-test"}).exit_code, 2);
}

TEST(Cli, HelpListsStatusAndExitCodes) {
  const Outcome outcome = lpmon({"--help"});

  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_THAT(outcome.out, HasSubstr("status"));
  EXPECT_THAT(outcome.out, HasSubstr("  5  the kernel has no livepatch support"));
}

TEST(Cli, VersionComesFromCMake) {
  const Outcome outcome = lpmon({"--version"});

  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(outcome.out, "lpmon " LPMON_VERSION "\n");
}

}  // namespace
}  // namespace lpmon::cli
