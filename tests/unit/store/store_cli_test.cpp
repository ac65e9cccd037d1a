// lpmon install, uninstall and list up to the kernel: refusals, modules for other kernels,
// and what list and cves.json say. Loading and reverting are tested in the guest
// (vm.store_reboot).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fake_kernel_tree.hpp"
#include "lpmon/store/patch_store.hpp"
#include "run_lpmon.hpp"

namespace lpmon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::FakeKernelTree;
using ::testing::HasSubstr;
using testing::lpmon;

#if defined(LPMON_FIXES_V2_KO) && defined(LPMON_TEST_RELEASE)

class StoreCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.enable_livepatch();
    tree_.set_kernel(LPMON_TEST_RELEASE, 0);
  }
  fs::path dir() const { return tree_.paths().sysfs.parent_path(); }
  std::vector<std::string> with_tree(std::vector<std::string> args) const {
    args.insert(args.end(), {"--sysfs-root", tree_.paths().sysfs.string(), "--procfs-root",
                             tree_.paths().procfs.string(), "--store-root",
                             (dir() / "store").string(), "--run-dir", (dir() / "run").string(),
                             "--audit-log", (dir() / "audit.log").string()});
    return args;
  }
  // lpmon status takes the store but not the run dir or audit log.
  std::vector<std::string> with_status(std::vector<std::string> args) const {
    args.insert(args.end(),
                {"--sysfs-root", tree_.paths().sysfs.string(), "--procfs-root",
                 tree_.paths().procfs.string(), "--store-root", (dir() / "store").string()});
    return args;
  }
  FakeKernelTree tree_;
};

TEST_F(StoreCliTest, InstallRefusesANonLivepatchAndStoresNothing) {
  const auto r = lpmon(with_tree({"install", LPMON_TARGET_KO}));
  EXPECT_EQ(r.exit_code, 10);
  EXPECT_THAT(r.err, HasSubstr("nothing was stored"));
  EXPECT_TRUE(store::PatchStore(dir() / "store").kernels().empty());
}

TEST_F(StoreCliTest, InstallRefusesAMissingFile) {
  const auto r = lpmon(with_tree({"install", (dir() / "missing.ko").string()}));
  EXPECT_EQ(r.exit_code, 7);
}

TEST_F(StoreCliTest, AModuleForAnotherKernelBecomesThatKernelsLevelWithoutLoading) {
  tree_.set_kernel("6.1.0-99-amd64", 0);
  const auto r = lpmon(with_tree({"install", LPMON_FIXES_V2_KO, "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_FALSE(j["applied"].get<bool>());
  EXPECT_EQ(j["release"]["kernel"], LPMON_TEST_RELEASE);
  EXPECT_EQ(j["current"], j["release"]["id"]);
  EXPECT_FALSE(fs::exists(tree_.livepatch_dir() / "lpmon_fixes_v2"));

  const auto list = lpmon(with_tree({"list"}));
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, HasSubstr("kernel " LPMON_TEST_RELEASE ":\n"));
  EXPECT_THAT(list.out, HasSubstr("current  not running"));
}

TEST_F(StoreCliTest, ListTellsInstalledFromLoaded) {
  store::PatchStore patches(dir() / "store");
  const store::StoredRelease v2 = patches.add(LPMON_FIXES_V2_KO);
  patches.mark_current(LPMON_TEST_RELEASE, v2.id);
  tree_.add_patch("lpmon_fixes_v2", true, false);
  tree_.add_patch("someone_elses", true, false);
  const auto r = lpmon(with_tree({"list", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["kernels"].size(), 1u);
  EXPECT_TRUE(j["kernels"][0]["running"].get<bool>());
  EXPECT_EQ(j["kernels"][0]["releases"][0]["state"], "enabled");
  EXPECT_EQ(j["kernels"][0]["releases"][0]["role"], "current");
  EXPECT_EQ(j["loaded_not_installed"], json::array({"someone_elses"}));
}

TEST_F(StoreCliTest, UninstallOfAReleaseNotLoadedRemovesItAndRewritesTheCveFile) {
  store::PatchStore patches(dir() / "store");
  const store::StoredRelease v2 = patches.add(LPMON_FIXES_V2_KO);
  patches.mark_current(LPMON_TEST_RELEASE, v2.id);
  const auto r = lpmon(with_tree({"uninstall", "lpmon_fixes_v2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(v2.id + ": uninstalled"));
  EXPECT_TRUE(patches.kernels().empty());
  const json cves = json::parse(std::ifstream(dir() / "run" / "cves.json"));
  EXPECT_TRUE(cves["installed"].is_null());
  EXPECT_TRUE(cves["cves_fixed"].empty());
}

TEST_F(StoreCliTest, UninstallOfAnUnknownNameChangesNothing) {
  store::PatchStore patches(dir() / "store");
  patches.add(LPMON_FIXES_V2_KO);
  const auto r = lpmon(with_tree({"uninstall", "nosuch"}));
  EXPECT_EQ(r.exit_code, 0);  // idempotent, as lpmon revert
  EXPECT_THAT(r.err, HasSubstr("nothing is installed or loaded under the name nosuch"));
  EXPECT_EQ(patches.level(LPMON_TEST_RELEASE).releases.size(), 1u);
}

// lpmon boot before it loads anything: kill switches, other kernels, the crash-loop guard.
class BootTest : public StoreCliTest {
 protected:
  void SetUp() override {
    StoreCliTest::SetUp();
    FakeKernelTree::write(tree_.paths().procfs / "cmdline", "console=ttyS0 quiet");
    FakeKernelTree::write(tree_.paths().procfs / "sys/kernel/random/boot_id", "boot-2");
  }
  std::vector<std::string> boot(std::vector<std::string> more = {}) const {
    std::vector<std::string> args{"boot", "--disable-file", (dir() / "disable").string()};
    args.insert(args.end(), more.begin(), more.end());
    return with_tree(args);
  }
  store::StoredRelease install_current() const {
    store::PatchStore patches(dir() / "store");
    const store::StoredRelease v2 = patches.add(LPMON_FIXES_V2_KO);
    patches.mark_current(LPMON_TEST_RELEASE, v2.id);
    return v2;
  }
};

TEST_F(BootTest, TheCommandLineKillSwitchLoadsNothing) {
  install_current();
  FakeKernelTree::write(tree_.paths().procfs / "cmdline", "console=ttyS0 lpmon.disable=1 quiet");
  const auto r = lpmon(boot());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("not loading any patch: lpmon.disable=1"));
  const json cves = json::parse(std::ifstream(dir() / "run" / "cves.json"));
  EXPECT_FALSE(cves["active"].get<bool>());
}

TEST_F(BootTest, TheDisableFileLoadsNothing) {
  install_current();
  FakeKernelTree::write(dir() / "disable", "");
  const auto r = lpmon(boot({"--json"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["result"], "disabled");
}

TEST_F(BootTest, AReleaseWhoseLoadDidNotFinishAtAnEarlierBootIsNotTried) {
  const store::StoredRelease v2 = install_current();
  FakeKernelTree::write(dir() / "store" / "kernels" / LPMON_TEST_RELEASE / "boot-marker.json",
                        R"({"state":"loading","release":")" + v2.id +
                            R"(","boot_id":"boot-1","time":"2026-12-04T21:00:00Z"})");
  const auto r = lpmon(boot());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("not loading " + v2.id + ": its load at an earlier boot"));
  std::ifstream audit(dir() / "audit.log");
  const std::string log((std::istreambuf_iterator<char>(audit)), {});
  EXPECT_THAT(log, HasSubstr("\"event\":\"boot-skipped-crashed\""));
  const auto status = lpmon(with_status({"status"}));
  EXPECT_THAT(status.out, HasSubstr("Skipped at boot: " + v2.id));
}

TEST_F(BootTest, ReleasesForOtherKernelsAreSkippedWithALine) {
  tree_.set_kernel("6.1.0-99-amd64", 0);
  install_current();
  const auto r = lpmon(boot());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("skipping the patch level of kernel " LPMON_TEST_RELEASE));
  EXPECT_THAT(r.out, HasSubstr("no patch is installed for 6.1.0-99-amd64"));
}

TEST_F(BootTest, AnAlreadyActiveLevelIsLeftAlone) {
  const store::StoredRelease v2 = install_current();
  tree_.add_patch("lpmon_fixes_v2", true, false);
  const auto r = lpmon(boot());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(v2.id + " is already enabled"));
  const json cves = json::parse(std::ifstream(dir() / "run" / "cves.json"));
  EXPECT_TRUE(cves["active"].get<bool>());
  EXPECT_EQ(cves["cves_fixed"], json(v2.cves));
}

#endif

}  // namespace
}  // namespace lpmon
