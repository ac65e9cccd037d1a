// Parts of lpmon build --diff that need no kernel source: which inline functions a header
// change touches, and which differ serves a kernel version.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "differ.hpp"
#include "header_changes.hpp"
#include "lpmon/build/diff_build.hpp"

namespace lpmon::build {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kHeader = R"(#ifndef X_H
#define X_H
/* a comment */
struct thing {
	int a;
};

#define TWICE(x) ((x) * 2)

static inline int first(const struct thing *t)
{
	return t->a;
}

static __always_inline void
second(struct thing *t) __acquires(t)
{
	if (t->a) {
		t->a = 0;
	}
}
int declared(void);
#endif
)";

TEST(HeaderChanges, NamesTheInlineFunctionsWhoseBodiesChange) {
  // Line 12 is in first(), 19 in second() (a nested block), 3 is a comment.
  const ChangedLines lines{{12, 3}, {19}};
  EXPECT_THAT(changed_inline_functions("x.h", kHeader, kHeader, lines),
              ElementsAre("first", "second"));
  EXPECT_THAT(changed_inline_functions("x.h", kHeader, kHeader, ChangedLines{{3}, {}}), IsEmpty());
}

TEST(HeaderChanges, RefusesStructsMacrosAndDeclarationsNamingTheLine) {
  for (const std::size_t line : {5, 8, 22}) {
    try {
      changed_inline_functions("x.h", kHeader, kHeader, ChangedLines{{}, {line}});
      ADD_FAILURE() << "line " << line << " accepted";
    } catch (const Refused& e) {
      EXPECT_THAT(e.what(), HasSubstr("x.h: the diff changes line " + std::to_string(line)));
      EXPECT_THAT(e.what(), HasSubstr("outside any static inline function"));
    }
  }
}

TEST(HeaderChanges, ReadsChangedLinesOfOneFileFromAUnifiedDiff) {
  const fs::path patch = fs::temp_directory_path() / ("lpmon-hunks-" + std::to_string(getpid()));
  std::ofstream(patch)
      << "--- a/other.c\n+++ b/other.c\n@@ -1,2 +1,2 @@\n-x\n+y\n z\n"
      << "--- a/include/x.h\n+++ b/include/x.h\n@@ -10,4 +10,5 @@\n a\n-b\n+c\n+d\n e\n";
  const ChangedLines lines = changed_lines(patch, "include/x.h");
  fs::remove(patch);
  EXPECT_THAT(lines.removed, ElementsAre(11u));
  EXPECT_THAT(lines.added, ElementsAre(11u, 12u));
}

// A kernel tree with only a Makefile: enough to choose (or refuse) a differ.
fs::path fake_tree(int major, int minor) {
  const fs::path dir = fs::temp_directory_path() / ("lpmon-tree-" + std::to_string(getpid()) + "-" +
                                                    std::to_string(major * 100 + minor));
  fs::create_directories(dir);
  std::ofstream(dir / "Makefile") << "# SPDX\nVERSION = " << major << "\nPATCHLEVEL = " << minor
                                  << "\nSUBLEVEL = 3\n";
  return dir;
}

TEST(Differ, ReadsTheTreeVersion) {
  const fs::path tree = fake_tree(6, 12);
  const KernelVersion v = tree_version(tree);
  fs::remove_all(tree);
  EXPECT_EQ(v.major, 6);
  EXPECT_EQ(v.minor, 12);
  EXPECT_TRUE(v.at_least(6, 1));
  EXPECT_FALSE(v.at_least(6, 19));
}

TEST(Differ, RefusesKernelsFrom619OnNamingTheirOwnTool) {
  const fs::path tree = fake_tree(6, 19);
  try {
    // The scripts directory does not exist: the refusal comes before any tool is fetched.
    choose_differ("/nonexistent", tree, "6.19.1-amd64", {});
    ADD_FAILURE() << "6.19 accepted";
  } catch (const Refused& e) {
    EXPECT_THAT(e.what(), HasSubstr("6.19.1-amd64 is Linux 6.19"));
    EXPECT_THAT(e.what(), HasSubstr("objtool klp diff"));
  }
  fs::remove_all(tree);
}

}  // namespace
}  // namespace lpmon::build
