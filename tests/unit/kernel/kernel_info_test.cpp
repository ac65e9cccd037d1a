#include "lpmon/kernel_info.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_kernel_tree.hpp"
#include "fixtures.hpp"
#include "lpmon/errors.hpp"

namespace lpmon {
namespace {

using ::testing::ElementsAre;
using testing::FakeKernelTree;
using testing::fixture;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string_view> flag_names(const Taint& taint) {
  std::vector<std::string_view> names;
  for (const TaintFlag& flag : taint.flags()) names.push_back(flag.name);
  return names;
}

TEST(Taint, UntaintedKernelHasNoLetters) {
  const Taint taint{.mask = 0};
  EXPECT_EQ(taint.letters(), "");
  EXPECT_THAT(taint.flags(), IsEmpty());
}

TEST(Taint, LivepatchBitIsK) {
  const Taint taint{.mask = 1u << 15};
  EXPECT_EQ(taint.letters(), "K");
  EXPECT_THAT(flag_names(taint), ElementsAre("livepatch"));
}

TEST(Taint, LettersFollowBitOrder) {
  const Taint taint{.mask = (1u << 15) | (1u << 12) | (1u << 13)};
  EXPECT_EQ(taint.letters(), "OEK");
  EXPECT_THAT(flag_names(taint), ElementsAre("oot_module", "unsigned_module", "livepatch"));
}

TEST(Taint, WarningBitIsW) {
  const Taint taint{.mask = (1u << 9) | 1u};
  EXPECT_EQ(taint.letters(), "PW");
  EXPECT_EQ(taint.flags().at(1).description, "kernel issued warning");
}

TEST(Taint, EveryKnownBitHasTheDocumentedLetter) {
  const Taint taint{.mask = (1u << 20) - 1};
  EXPECT_EQ(taint.letters(), "PFSRMBUDAWCIOELKXTNJ");
  EXPECT_EQ(taint.unknown_bits(), 0u);
  for (std::size_t i = 0; i < known_taint_flags().size(); ++i) {
    EXPECT_EQ(known_taint_flags()[i].bit, i);
  }
}

TEST(Taint, BitsNewerThanTheTableAreKeptApart) {
  const Taint taint{.mask = (std::uint64_t{1} << 40) | (1u << 15)};
  EXPECT_EQ(taint.letters(), "K");
  EXPECT_EQ(taint.unknown_bits(), std::uint64_t{1} << 40);
}

TEST(ReadTaint, DecodesProcFile) {
  const Taint taint = read_taint(fixture("linux-6.1-patched"));
  EXPECT_EQ(taint.mask, 45056u);
  EXPECT_EQ(taint.letters(), "OEK");
}

TEST(ReadTaint, MalformedValueThrows) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  FakeKernelTree::write(tree.paths().procfs / "sys/kernel/tainted", "-1x");
  EXPECT_THROW(
      {
        try {
          read_taint(tree.paths());
        } catch (const KernelError& error) {
          EXPECT_THAT(error.what(), HasSubstr("\"-1x\" is not an unsigned integer"));
          throw;
        }
      },
      KernelError);
}

TEST(KernelRelease, ReadsOsrelease) {
  EXPECT_EQ(kernel_release(fixture("linux-6.1-patched")), "6.1.0-56-amd64");
}

TEST(KernelRelease, MissingFileSaysWhereItLooked) {
  FakeKernelTree tree;
  try {
    kernel_release(tree.paths());
    FAIL() << "kernel_release must throw without osrelease";
  } catch (const KernelError& error) {
    EXPECT_THAT(error.what(), HasSubstr((tree.paths().procfs / "sys/kernel/osrelease").string() +
                                        ": No such file or directory"));
  }
}

}  // namespace
}  // namespace lpmon
