// lpmon apply and revert up to the point where they would change the kernel: every refusal
// must come before the first write, so these run against fake trees, with the modules this
// build makes. Loading, transitions and rollback are tested in the guest (vm.apply_revert).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <string>

#include "fake_kernel_tree.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon/rollout/transaction.hpp"
#include "run_lpmon.hpp"

namespace lpmon {
namespace {

namespace fs = std::filesystem;
using testing::FakeKernelTree;
using ::testing::HasSubstr;
using testing::lpmon;

#if defined(LPMON_FIXES_V2_KO) && defined(LPMON_TEST_RELEASE)

// A kernel of the modules' release with livepatch, and the audit log kept inside the tree.
class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.enable_livepatch();
    tree_.set_kernel(LPMON_TEST_RELEASE, 0);
  }
  std::vector<std::string> with_tree(std::vector<std::string> args) const {
    args.insert(args.end(),
                {"--sysfs-root", tree_.paths().sysfs.string(), "--procfs-root",
                 tree_.paths().procfs.string(), "--audit-log", audit().string(), "--run-dir",
                 state().run_dir.string(), "--state-dir", state().state_dir.string()});
    return args;
  }
  rollout::StatePaths state() const {
    const fs::path root = tree_.paths().sysfs.parent_path();
    return {.run_dir = root / "run", .state_dir = root / "state"};
  }
  std::string file_srcversion() const {
    ModuleInspector inspector(InspectOptions{.kernel_btf = std::nullopt, .paths = tree_.paths()});
    return inspector.inspect(LPMON_FIXES_V2_KO).srcversion.value_or("");
  }
  fs::path audit() const { return tree_.paths().sysfs.parent_path() / "audit.log"; }
  fs::path write_gate(const std::string& text) const {
    const fs::path file = tree_.paths().sysfs.parent_path() / "gate.yaml";
    FakeKernelTree::write(file, text);
    return file;
  }
  // Nothing was loaded: the fake tree got no patch or module, and no step was audited.
  void expect_nothing_done() const {
    EXPECT_FALSE(fs::exists(tree_.livepatch_dir() / "lpmon_fixes_v2"));
    EXPECT_FALSE(fs::exists(audit()) && fs::file_size(audit()) > 0);
  }
  FakeKernelTree tree_;
};

TEST_F(ApplyTest, RefusesWhileAnotherPatchIsInTransition) {
  tree_.add_patch("other_patch", true, true);
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO}));
  EXPECT_EQ(r.exit_code, 14);
  EXPECT_THAT(r.err, HasSubstr("other_patch is in transition; nothing was changed"));
  expect_nothing_done();
}

TEST_F(ApplyTest, RefusesAModuleBuiltForAnotherKernel) {
  tree_.set_kernel("6.1.0-99-amd64", 0);
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO}));
  EXPECT_EQ(r.exit_code, 11);
  EXPECT_THAT(r.err, HasSubstr("6.1.0-99-amd64"));
  expect_nothing_done();
}

TEST_F(ApplyTest, RefusesAModuleThatIsNotALivepatch) {
  const auto r = lpmon(with_tree({"apply", LPMON_TARGET_KO}));
  EXPECT_EQ(r.exit_code, 10);
  expect_nothing_done();
}

TEST_F(ApplyTest, RefusesAMissingFile) {
  const auto r = lpmon(with_tree({"apply", "/nonexistent/lpmon_fixes_v2.ko"}));
  EXPECT_EQ(r.exit_code, 7);
  expect_nothing_done();
}

TEST_F(ApplyTest, RefusesAKernelWithoutLivepatch) {
  fs::remove_all(tree_.livepatch_dir());
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO}));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("no livepatch support"));
}

TEST_F(ApplyTest, RefusesAGateFileWithAnUnknownKeyNamingItsLine) {
  const fs::path gate = write_gate(
      "checks:\n  - name: t\n    local: {kind: transitionFinished, within: 5s}\n    colour: red\n");
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO, "--gate", gate.string()}));
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_THAT(r.err, HasSubstr("gate.yaml:4"));
  expect_nothing_done();
}

TEST_F(ApplyTest, RefusesAGateWithoutLocalChecks) {
  const fs::path gate =
      write_gate("checks:\n  - name: q\n    query: up\n    successCondition: result[0] == 1\n");
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO, "--gate", gate.string()}));
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_THAT(r.err, HasSubstr("no local checks"));
  expect_nothing_done();
}

TEST_F(ApplyTest, RefusesABadTimeoutAsUsage) {
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO, "--timeout", "30"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("positive duration"));
}

TEST_F(ApplyTest, YesIsOnlyForForce) {
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO, "--yes"}));
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(ApplyTest, AnAppliedPatchIsLeftAsItIs) {
  tree_.add_patch("lpmon_fixes_v2", true, false);
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO, "--json"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["changed"], false);
  EXPECT_EQ(j["result"], "already-applied");
  EXPECT_FALSE(fs::exists(audit()) && fs::file_size(audit()) > 0);
}

// Identity by build: the same name from another build is not "already applied".
TEST_F(ApplyTest, AnotherBuildOfTheAppliedPatchIsRefused) {
  ASSERT_FALSE(file_srcversion().empty());
  tree_.add_patch("lpmon_fixes_v2", true, false);
  tree_.set_module_state("lpmon_fixes_v2", "live");
  FakeKernelTree::write(tree_.paths().sysfs / "module/lpmon_fixes_v2/srcversion",
                        "0123456789ABCDEF0123456\n");
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO}));
  EXPECT_EQ(r.exit_code, 17) << r.err;
  EXPECT_THAT(r.err, HasSubstr("another build (srcversion 0123456789ABCDEF0123456 is loaded"));
  EXPECT_THAT(r.err, HasSubstr("lpmon revert lpmon_fixes_v2 first"));
  EXPECT_FALSE(fs::exists(audit()) && fs::file_size(audit()) > 0);

  FakeKernelTree::write(tree_.paths().sysfs / "module/lpmon_fixes_v2/srcversion",
                        file_srcversion() + "\n");
  const auto same = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO, "--json"}));
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_EQ(nlohmann::json::parse(same.out)["result"], "already-applied");
}

// Two runs never interleave: with --no-wait the second is refused with its own code.
TEST_F(ApplyTest, ASecondRunIsRefusedWithoutWaiting) {
  auto held = rollout::RunLock::acquire(state(), false, {});
  ASSERT_TRUE(std::holds_alternative<rollout::RunLock>(held));
  for (const char* command : {"apply", "revert"}) {
    const auto r = lpmon(with_tree({command, LPMON_FIXES_V2_KO, "--no-wait"}));
    EXPECT_EQ(r.exit_code, 15) << r.err;
    EXPECT_THAT(r.err, HasSubstr("another lpmon apply or revert"));
  }
  expect_nothing_done();
}

// An interrupted run is converged before the next run's own work, and reported by status.
TEST_F(ApplyTest, AnInterruptedRunIsReportedAndConverged) {
  const rollout::Journal journal(state().journal_file());
  rollout::JournalEntry entry;
  entry.command = "apply";
  entry.pid = 99999;
  entry.started = "2026-12-04T22:00:00Z";
  entry.patch = "lpmon_fixes_v2";
  entry.srcversion = file_srcversion();
  entry.step = "transition";
  ASSERT_FALSE(journal.write(entry));
  const auto status = lpmon({"status", "--json", "--sysfs-root", tree_.paths().sysfs.string(),
                             "--procfs-root", tree_.paths().procfs.string(), "--run-dir",
                             state().run_dir.string(), "--state-dir", state().state_dir.string()});
  const auto j = nlohmann::json::parse(status.out);
  EXPECT_EQ(j["run"]["interrupted"]["patch"], "lpmon_fixes_v2");
  EXPECT_EQ(j["run"]["interrupted"]["step"], "transition");
  EXPECT_EQ(j["run"]["running"], false);

  // Nothing of the patch is in the (fake) kernel: converging only clears the journal; then
  // the run does its own work (here refused, as another patch is in transition).
  tree_.add_patch("other_patch", true, true);
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO}));
  EXPECT_EQ(r.exit_code, 14) << r.err;
  EXPECT_THAT(r.err, HasSubstr("nothing of it is left in the kernel"));
  EXPECT_FALSE(fs::exists(journal.file()));
  std::ifstream log(audit());
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("\"recover\""));
}

TEST_F(ApplyTest, RevertOfAPatchThatIsNotLoadedChangesNothing) {
  const auto r = lpmon(with_tree({"revert", "lpmon_fixes_v2", "--json"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["changed"], false);
  EXPECT_EQ(j["result"], "not-loaded");
}

TEST_F(ApplyTest, RevertTakesTheModuleFileForItsName) {
  tree_.add_patch("other_patch", true, true);
  const auto r = lpmon(with_tree({"revert", LPMON_FIXES_V2_KO}));
  // The name came from the file: lpmon_fixes_v2 is not the patch in transition.
  EXPECT_EQ(r.exit_code, 14);
  EXPECT_THAT(r.err, HasSubstr("other_patch is in transition"));
}

// A FIFO would block a plain open forever (issue 13, item 5).
TEST_F(ApplyTest, RefusesAFifoWithoutBlocking) {
  const fs::path fifo = tree_.paths().sysfs.parent_path() / "patch.ko";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto refused = std::async(std::launch::async, [&] {
    return lpmon(with_tree({"apply", fifo.string()}));
  });
  if (refused.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::ofstream(fifo) << "x";
    FAIL() << "lpmon apply blocked on a FIFO";
  }
  const auto r = refused.get();
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_THAT(r.err, HasSubstr("FIFO"));
  expect_nothing_done();
}

// A module of the patch's name that is not a livepatch is never unloaded to make room
// (issue 13, item 6): the kernel taints livepatch modules with K, this one has none.
TEST_F(ApplyTest, NeverUnloadsALoadedModuleThatIsNotALivepatch) {
  tree_.set_module_state("lpmon_fixes_v2", "live");
  FakeKernelTree::write(tree_.paths().sysfs / "module/lpmon_fixes_v2/taint", "OE");
  const auto r = lpmon(with_tree({"apply", LPMON_FIXES_V2_KO}));
  EXPECT_EQ(r.exit_code, 10) << r.err;
  EXPECT_THAT(r.err, HasSubstr("is not a livepatch"));
  expect_nothing_done();
}

TEST_F(ApplyTest, RevertRefusesAModuleThatIsNotALivepatch) {
  for (const char* taint : std::initializer_list<const char*>{"", "OE", nullptr}) {
    tree_.set_module_state("lpmon_not_a_patch", "live");
    if (taint) FakeKernelTree::write(tree_.paths().sysfs / "module/lpmon_not_a_patch/taint", taint);
    const auto r = lpmon(with_tree({"revert", "lpmon_not_a_patch", "--json"}));
    EXPECT_EQ(r.exit_code, 10) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["result"], "not-livepatch");
    EXPECT_THAT(r.err, HasSubstr("not a livepatch"));
    EXPECT_FALSE(fs::exists(audit()) && fs::file_size(audit()) > 0);
  }
}

TEST_F(ApplyTest, RevertRefusesWhatIsNeitherANameNorAFile) {
  const auto r = lpmon(with_tree({"revert", "lpmon fixes"}));
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_THAT(r.err, HasSubstr("neither a patch name nor a module file"));
}

#endif

}  // namespace
}  // namespace lpmon
