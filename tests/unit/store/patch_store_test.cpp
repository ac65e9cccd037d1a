// The patch store on temporary directories, with the modules this build makes: what it
// stores, what it refuses, and that a changed file is never handed out for loading.
#include "lpmon/store/patch_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fake_kernel_tree.hpp"
#include "lpmon/store/boot_marker.hpp"
#include "lpmon/store/patch_level.hpp"

namespace lpmon::store {
namespace {

namespace fs = std::filesystem;
using lpmon::testing::FakeKernelTree;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

#if defined(LPMON_FIXES_V2_KO) && defined(LPMON_TEST_RELEASE)

class PatchStoreTest : public ::testing::Test {
 protected:
  fs::path root() const { return tree_.paths().sysfs.parent_path() / "store"; }
  FakeKernelTree tree_;  // its temporary directory holds the store too
  PatchStore store_{root()};
};

TEST_F(PatchStoreTest, StoresACopyWithItsHashKernelAndCves) {
  const StoredRelease r = store_.add(LPMON_FIXES_V2_KO);
  EXPECT_EQ(r.name, "lpmon_fixes_v2");
  EXPECT_EQ(r.kernel, LPMON_TEST_RELEASE);
  EXPECT_EQ(r.sha256, sha256_file(LPMON_FIXES_V2_KO));
  EXPECT_EQ(r.id, "lpmon_fixes_v2-" + r.sha256.substr(0, 12));
  EXPECT_FALSE(r.cves.empty());
  EXPECT_TRUE(r.replace);
  const fs::path copy = store_.verified_module(r);
  EXPECT_EQ(copy.parent_path(), root() / "kernels" / LPMON_TEST_RELEASE);
  EXPECT_EQ(sha256_file(copy), r.sha256);
  const KernelPatchLevel level = store_.level(LPMON_TEST_RELEASE);
  ASSERT_EQ(level.releases.size(), 1u);
  EXPECT_EQ(level.current, "");  // current only once applied
  EXPECT_THAT(store_.kernels(), ElementsAre(LPMON_TEST_RELEASE));
}

TEST_F(PatchStoreTest, InstallingTheSameFileTwiceKeepsOneRelease) {
  store_.add(LPMON_FIXES_V2_KO);
  store_.add(LPMON_FIXES_V2_KO);
  EXPECT_EQ(store_.level(LPMON_TEST_RELEASE).releases.size(), 1u);
}

TEST_F(PatchStoreTest, RefusesAModuleThatIsNotALivepatch) {
  try {
    store_.add(LPMON_TARGET_KO);
    FAIL() << "stored a module that is not a livepatch";
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), ExitCode::not_livepatch);
    EXPECT_THAT(error.what(), HasSubstr("not a livepatch"));
  }
  EXPECT_TRUE(store_.kernels().empty());
}

TEST_F(PatchStoreTest, RefusesWhatIsNotARegularModuleFile) {
  const fs::path fifo = tree_.paths().sysfs.parent_path() / "fifo.ko";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW(store_.add(fifo), ModuleFileError);
  const fs::path text = tree_.paths().sysfs.parent_path() / "text.ko";
  FakeKernelTree::write(text, "not an ELF file");
  try {
    store_.add(text);
    FAIL() << "stored a text file";
  } catch (const ModuleFileError& error) {
    EXPECT_EQ(error.problem(), ModuleFileProblem::not_a_module);
  }
  EXPECT_THROW(store_.add(tree_.paths().sysfs), ModuleFileError);  // a directory
  EXPECT_TRUE(store_.kernels().empty());
}

TEST_F(PatchStoreTest, CurrentAndPreviousFollowUpgradesAndRestore) {
  const StoredRelease v1 = store_.add(LPMON_FIXES_V1_KO);
  const StoredRelease v2 = store_.add(LPMON_FIXES_V2_KO);
  store_.mark_current(LPMON_TEST_RELEASE, v1.id);
  store_.mark_current(LPMON_TEST_RELEASE, v2.id);
  KernelPatchLevel level = store_.level(LPMON_TEST_RELEASE);
  EXPECT_EQ(level.current, v2.id);
  EXPECT_EQ(level.previous, v1.id);
  store_.restore_previous(LPMON_TEST_RELEASE);
  level = store_.level(LPMON_TEST_RELEASE);
  EXPECT_EQ(level.current, v1.id);
  EXPECT_EQ(level.previous, "");
}

TEST_F(PatchStoreTest, RemoveTakesTheFileAndTheRecord) {
  const StoredRelease v2 = store_.add(LPMON_FIXES_V2_KO);
  store_.mark_current(LPMON_TEST_RELEASE, v2.id);
  const fs::path file = store_.verified_module(v2);
  EXPECT_TRUE(store_.remove(LPMON_TEST_RELEASE, v2.id));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(store_.kernels().empty());
  EXPECT_FALSE(store_.remove(LPMON_TEST_RELEASE, v2.id));
}

TEST_F(PatchStoreTest, RemovingTheCurrentReleaseGoesBackToThePreviousOne) {
  const StoredRelease v1 = store_.add(LPMON_FIXES_V1_KO);
  const StoredRelease v2 = store_.add(LPMON_FIXES_V2_KO);
  store_.mark_current(LPMON_TEST_RELEASE, v1.id);
  store_.mark_current(LPMON_TEST_RELEASE, v2.id);
  EXPECT_TRUE(store_.remove(LPMON_TEST_RELEASE, v2.id));
  const KernelPatchLevel level = store_.level(LPMON_TEST_RELEASE);
  EXPECT_EQ(level.current, v1.id);
  EXPECT_EQ(level.previous, "");
  EXPECT_EQ(level.releases.size(), 1u);
}

TEST_F(PatchStoreTest, AChangedModuleFileIsNeverHandedOutForLoading) {
  const StoredRelease v2 = store_.add(LPMON_FIXES_V2_KO);
  const fs::path file = store_.verified_module(v2);
  std::ofstream(file, std::ios::app) << "tampered";
  try {
    store_.verified_module(v2);
    FAIL() << "a changed file passed";
  } catch (const StoreError& error) {
    EXPECT_THAT(error.what(), HasSubstr("changed since it was installed"));
  }
}

TEST_F(PatchStoreTest, AMalformedManifestIsAClearError) {
  store_.add(LPMON_FIXES_V2_KO);
  FakeKernelTree::write(
      root() / "kernels" / LPMON_TEST_RELEASE / "manifest.json",
      R"({"releases":[{"id":"../../etc/x","name":"x","sha256":"00","kernel":"k"}]})");
  try {
    store_.level(LPMON_TEST_RELEASE);
    FAIL() << "a path in the manifest was accepted";
  } catch (const StoreError& error) {
    EXPECT_THAT(error.what(), HasSubstr("malformed"));
  }
  EXPECT_THROW(store_.level("../etc"), StoreError);
}

TEST_F(PatchStoreTest, ALoadMarkerFromAnEarlierBootIsACrashedLoad) {
  tree_.set_kernel(LPMON_TEST_RELEASE, 0);
  FakeKernelTree::write(tree_.paths().procfs / "sys/kernel/random/boot_id", "boot-2");
  write_boot_marker(store_, LPMON_TEST_RELEASE, {"loading", "r1", "boot-1", "t"});
  const auto crashed = crashed_load(store_, LPMON_TEST_RELEASE, tree_.paths());
  ASSERT_TRUE(crashed);
  EXPECT_EQ(crashed->release, "r1");
  // Still loading in this boot: not a crash.
  write_boot_marker(store_, LPMON_TEST_RELEASE, {"loading", "r1", "boot-2", "t"});
  EXPECT_FALSE(crashed_load(store_, LPMON_TEST_RELEASE, tree_.paths()));
  write_boot_marker(store_, LPMON_TEST_RELEASE, {"ok", "r1", "boot-1", "t"});
  EXPECT_FALSE(crashed_load(store_, LPMON_TEST_RELEASE, tree_.paths()));
}

TEST_F(PatchStoreTest, CvesAreFixedOnlyWhileTheInstalledPatchIsEnabled) {
  tree_.enable_livepatch();
  tree_.set_kernel(LPMON_TEST_RELEASE, 0);
  const StoredRelease v2 = store_.add(LPMON_FIXES_V2_KO);
  store_.mark_current(LPMON_TEST_RELEASE, v2.id);
  EffectivePatchLevel level = effective_patch_level(store_, tree_.paths());
  ASSERT_TRUE(level.installed);
  EXPECT_FALSE(level.active);
  EXPECT_TRUE(level.cves_fixed.empty());

  tree_.add_patch("lpmon_fixes_v2", true, false);
  level = effective_patch_level(store_, tree_.paths());
  EXPECT_TRUE(level.active);
  EXPECT_EQ(level.cves_fixed, v2.cves);
  const fs::path file = write_cve_file(level, tree_.paths().sysfs.parent_path() / "run");
  const auto j = nlohmann::json::parse(std::ifstream(file));
  EXPECT_EQ(j["cves_fixed"].get<std::vector<std::string>>(), v2.cves);
  EXPECT_EQ(j["installed"]["id"], v2.id);

  tree_.add_patch("lpmon_fixes_v2", true, true);  // in transition: not yet in effect
  EXPECT_FALSE(effective_patch_level(store_, tree_.paths()).active);
}

#endif

}  // namespace
}  // namespace lpmon::store
