// lpmon_cve_fixed and the other patch-store metrics, from a hand-written store and a fake tree.
#include "store_collector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <string>

#include "fake_kernel_tree.hpp"

namespace lpmon::exporter {
namespace {

namespace fs = std::filesystem;
using testing::FakeKernelTree;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRelease[] = "6.1.0-57-amd64";

class StoreCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.enable_livepatch();
    tree_.set_kernel(kRelease, 0);
    FakeKernelTree::write(tree_.paths().procfs / "sys/kernel/random/boot_id", "boot-2");
    const std::string sha(64, 'a');
    FakeKernelTree::write(store() / "kernels" / kRelease / "manifest.json",
                          R"({"kernel":"6.1.0-57-amd64","current":"fix-aaaaaaaaaaaa","previous":"",
                              "releases":[{"id":"fix-aaaaaaaaaaaa","name":"fix","sha256":")" +
                              sha + R"(","kernel":"6.1.0-57-amd64",
                              "cves":["CVE-2099-0001","CVE-2099-0004"]}]})");
  }
  fs::path store() const { return tree_.paths().sysfs.parent_path() / "store"; }
  std::string scrape() const {
    return prometheus::TextSerializer().Serialize(StoreCollector(tree_.paths(), store()).Collect());
  }
  FakeKernelTree tree_;
};

TEST_F(StoreCollectorTest, CvesOfTheInstalledReleaseCountOnlyWhileItsPatchIsEnabled) {
  std::string text = scrape();
  EXPECT_THAT(text, Not(HasSubstr("lpmon_cve_fixed{")));
  EXPECT_THAT(
      text,
      HasSubstr("lpmon_installed_patch_active{release=\"fix-aaaaaaaaaaaa\",patch=\"fix\"} 0"));
  tree_.add_patch("fix", true, false);
  text = scrape();
  EXPECT_THAT(text, HasSubstr("lpmon_cve_fixed{cve=\"CVE-2099-0001\"} 1"));
  EXPECT_THAT(text, HasSubstr("lpmon_cve_fixed{cve=\"CVE-2099-0004\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("lpmon_installed_patch_active{release=\"fix-aaaaaaaaaaaa\",patch=\"fix\"} 1"));
  EXPECT_THAT(text, HasSubstr("lpmon_store_read_error 0"));
}

TEST_F(StoreCollectorTest, AReleaseSkippedAtBootIsPublished) {
  FakeKernelTree::write(store() / "kernels" / kRelease / "boot-marker.json",
                        R"({"state":"loading","release":"fix-aaaaaaaaaaaa","boot_id":"boot-1"})");
  EXPECT_THAT(scrape(), HasSubstr("lpmon_boot_load_skipped{release=\"fix-aaaaaaaaaaaa\"} 1"));
}

TEST_F(StoreCollectorTest, AnUnreadableStoreIsAnErrorNotAFailedScrape) {
  FakeKernelTree::write(store() / "kernels" / kRelease / "manifest.json", "{not json");
  const std::string text = scrape();
  EXPECT_THAT(text, HasSubstr("lpmon_store_read_error 1"));
  EXPECT_THAT(text, Not(HasSubstr("lpmon_cve_fixed{")));
}

}  // namespace
}  // namespace lpmon::exporter
