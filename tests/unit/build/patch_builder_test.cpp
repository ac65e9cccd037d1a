#include "lpmon/build/diff_build.hpp"
#include "lpmon/build/fix_units.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace lpmon::build {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// A directory of fix units written by the test.
class FixDir {
 public:
  FixDir()
      : dir_(fs::temp_directory_path() /
             ("lpmon-fixes-" + std::to_string(getpid()) + "-" + std::to_string(counter_++))) {
    fs::create_directories(dir_);
  }
  ~FixDir() { fs::remove_all(dir_); }

  void add(const std::string& id, const std::string& yaml, bool with_code = true) {
    fs::create_directories(dir_ / id);
    std::ofstream(dir_ / id / "fix.yaml") << yaml;
    if (with_code) std::ofstream(dir_ / id / "fix.c") << "/* code */\n";
  }
  const fs::path& path() const { return dir_; }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
};

std::string fix_yaml(const std::string& cves, unsigned since, const std::string& object,
                     const std::string& function, const std::string& extra = "") {
  return "summary: test fix\ncves: [" + cves + "]\nsince: " + std::to_string(since) +
         "\nobject: " + object + "\nfunctions:\n  - name: " + function +
         "\n    replacement: " + function + "_fixed\n" + extra;
}

std::string build_error(const auto& action) {
  try {
    action();
  } catch (const BuildError& e) {
    return e.what();
  }
  return "";
}

TEST(LoadFixUnits, ReadsEveryFieldAndSortsById) {
  FixDir dir;
  dir.add("b-fix", fix_yaml("CVE-2099-0002", 2, "lpmon_target", "f_b",
                            "callbacks:\n  pre_patch: b_pre\n  post_unpatch: b_post\n"));
  dir.add("a-fix", fix_yaml("CVE-2099-0001, CVE-2099-0009", 1, "vmlinux", "f_a"));

  const auto units = load_fix_units({dir.path()});

  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0].id, "a-fix");
  EXPECT_EQ(units[0].cves, (std::vector<std::string>{"CVE-2099-0001", "CVE-2099-0009"}));
  EXPECT_EQ(units[0].object, "vmlinux");
  ASSERT_EQ(units[0].functions.size(), 1u);
  EXPECT_EQ(units[0].functions[0].name, "f_a");
  EXPECT_EQ(units[0].functions[0].replacement, "f_a_fixed");
  EXPECT_EQ(units[1].since, 2u);
  EXPECT_EQ(units[1].callbacks.at("pre_patch"), "b_pre");
  EXPECT_EQ(units[1].callbacks.at("post_unpatch"), "b_post");
}

TEST(LoadFixUnits, ErrorsNameTheFileAndLine) {
  FixDir unknown_key;
  unknown_key.add("x", fix_yaml("", 1, "vmlinux", "f") + "sinse: 2\n");
  EXPECT_THAT(build_error([&] { load_fix_units({unknown_key.path()}); }),
              HasSubstr("x/fix.yaml:8: unknown key 'sinse'"));

  FixDir missing_code;
  missing_code.add("x", fix_yaml("", 1, "vmlinux", "f"), false);
  EXPECT_THAT(build_error([&] { load_fix_units({missing_code.path()}); }),
              HasSubstr("has neither fix.c (replacement code) nor fix.patch (a diff)"));

  FixDir bad_callback;
  bad_callback.add("x", fix_yaml("", 1, "vmlinux", "f", "callbacks:\n  pre_pach: p\n"));
  EXPECT_THAT(build_error([&] { load_fix_units({bad_callback.path()}); }),
              HasSubstr("unknown key 'pre_pach'"));

  FixDir not_c;
  not_c.add("x", fix_yaml("", 1, "vmlinux", "f; evil()"));
  EXPECT_THAT(build_error([&] { load_fix_units({not_c.path()}); }), HasSubstr("is not a C name"));

  FixDir no_functions;
  no_functions.add("x", "summary: s\nobject: vmlinux\nfunctions: []\n");
  EXPECT_THAT(build_error([&] { load_fix_units({no_functions.path()}); }),
              HasSubstr("'functions' must list at least one function"));
}

TEST(LoadFixUnits, DuplicateIdAcrossDirectoriesIsAnError) {
  FixDir one, two;
  one.add("same", fix_yaml("", 1, "vmlinux", "f"));
  two.add("same", fix_yaml("", 1, "vmlinux", "g"));

  EXPECT_THAT(build_error([&] {
                load_fix_units({one.path(), two.path()});
              }),
              HasSubstr("fix unit 'same' is defined twice"));
}

std::vector<FixUnit> sample_units() {
  FixDir dir;
  dir.add("a", fix_yaml("CVE-2099-0001", 1, "vmlinux", "fa"));
  dir.add("b", fix_yaml("CVE-2099-0002, CVE-2099-0003", 1, "mod", "fb"));
  dir.add("c", fix_yaml("CVE-2099-0004", 2, "mod", "fc"));
  return load_fix_units({dir.path()});
}

TEST(SelectFixes, ReleaseCarriesFixesSinceAtMostItsVersion) {
  const auto units = sample_units();

  const auto v1 = select_fixes(units, 1, {});
  ASSERT_EQ(v1.included.size(), 2u);
  EXPECT_EQ(v1.included[1].id, "b");
  EXPECT_EQ(v1.cves_fixed,
            (std::vector<std::string>{"CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0003"}));
  EXPECT_EQ(select_fixes(units, 2, {}).included.size(), 3u);
}

TEST(SelectFixes, ExcludingOneCveOfAFixLeavesAllItsCvesUnfixed) {
  const auto selection = select_fixes(sample_units(), 2, {"CVE-2099-0002"});

  ASSERT_EQ(selection.excluded.size(), 1u);
  EXPECT_EQ(selection.excluded[0].id, "b");
  EXPECT_EQ(selection.cves_excluded, (std::vector<std::string>{"CVE-2099-0002", "CVE-2099-0003"}));
  EXPECT_EQ(selection.cves_fixed, (std::vector<std::string>{"CVE-2099-0001", "CVE-2099-0004"}));
}

TEST(SelectFixes, UnknownOrLaterCveAndEmptyResultAreErrors) {
  const auto units = sample_units();
  EXPECT_THAT(build_error([&] { select_fixes(units, 2, {"CVE-2099-0404"}); }),
              HasSubstr("cannot exclude CVE-2099-0404"));
  // A CVE fixed only in a later release is unknown to this one.
  EXPECT_THAT(build_error([&] { select_fixes(units, 1, {"CVE-2099-0004"}); }),
              HasSubstr("no fix in release 1 addresses it"));
  EXPECT_THAT(build_error([&] {
                select_fixes(units, 1, {"CVE-2099-0001", "CVE-2099-0002"});
              }),
              HasSubstr("nothing left to build"));
}

TEST(GeneratePatchSource, ObjectsFunctionsReplaceAndMetadata) {
  const auto selection = select_fixes(sample_units(), 2, {"CVE-2099-0002"});
  const std::string c =
      generate_patch_source(selection, {"acme_v2", 2, "6.1.0-56-amd64", "2026-01-01T00:00:00Z"});

  EXPECT_THAT(c, HasSubstr("#include \"a.fix.c\""));
  EXPECT_THAT(c, Not(HasSubstr("#include \"b.fix.c\"")));
  EXPECT_THAT(c, HasSubstr(".old_name = \"fa\",\n\t\t.new_func = fa_fixed"));
  EXPECT_THAT(c, HasSubstr("\t\t.name = \"mod\",\n\t\t.funcs = lpmon_funcs_mod,"));
  EXPECT_THAT(c, HasSubstr(".replace = true,"));
  EXPECT_THAT(c, HasSubstr("MODULE_INFO(lpmon_cves, \"CVE-2099-0001,CVE-2099-0004\");"));
  EXPECT_THAT(c, HasSubstr("MODULE_INFO(lpmon_excluded_cves, \"CVE-2099-0002,CVE-2099-0003\");"));
  EXPECT_THAT(c, HasSubstr("MODULE_INFO(lpmon_target_release, \"6.1.0-56-amd64\");"));
  EXPECT_THAT(c, HasSubstr("MODULE_INFO(lpmon_functions, \"vmlinux:fa mod:fc\");"));
  EXPECT_THAT(c, HasSubstr("module_param_string(functions, lpmon_functions, "));
  EXPECT_THAT(c, HasSubstr("module_param_string(cves, lpmon_cves, sizeof(lpmon_cves), 0444);"));
  EXPECT_THAT(c, HasSubstr("MODULE_VERSION(\"2\");"));
  EXPECT_THAT(c, HasSubstr("MODULE_INFO(livepatch, \"Y\");"));
  // vmlinux first: klp patches it at once, modules as they load.
  EXPECT_LT(c.find("lpmon_funcs_vmlinux[]"), c.find("lpmon_funcs_mod[]"));
}

TEST(GeneratePatchSource, FunctionListHasSymposOnlyWhereSet) {
  FixDir dir;
  dir.add("a", fix_yaml("", 1, "mod", "fa",
                        "  - name: fa2\n    replacement: fa2_fixed\n"
                        "    sympos: 2\n"));
  dir.add("b", fix_yaml("", 1, "vmlinux", "fb"));
  const auto selection = select_fixes(load_fix_units({dir.path()}), 1, {});

  const std::string c = generate_patch_source(selection, {"p", 1, "r", "t"});

  // Objects in klp order (vmlinux first), functions in fix-unit order.
  EXPECT_THAT(c, HasSubstr("MODULE_INFO(lpmon_functions, \"vmlinux:fb mod:fa mod:fa2,2\");"));
}

TEST(GeneratePatchSource, RefusingPrePatchUndoesTheFixesBeforeIt) {
  FixDir dir;
  dir.add("a",
          fix_yaml("", 1, "mod", "fa", "callbacks:\n  pre_patch: a_pre\n  post_unpatch: a_post\n"));
  dir.add("b", fix_yaml("", 1, "mod", "fb", "callbacks:\n  pre_patch: b_pre\n"));
  const auto selection = select_fixes(load_fix_units({dir.path()}), 1, {});

  const std::string c = generate_patch_source(selection, {"p", 1, "r", "t"});

  const auto b_refuses = c.find("ret = b_pre(obj);");
  ASSERT_NE(b_refuses, std::string::npos);
  const auto undo_a = c.find("a_post(obj);", b_refuses);
  ASSERT_NE(undo_a, std::string::npos) << c;
  EXPECT_LT(undo_a, c.find("return ret;", b_refuses));
  EXPECT_THAT(c, HasSubstr(".pre_patch = lpmon_mod_pre_patch,"));
  EXPECT_THAT(c, HasSubstr(".post_unpatch = lpmon_mod_post_unpatch,"));
  // a_pre refusing has nothing before it to undo.
  const auto a_refuses = c.find("ret = a_pre(obj);");
  EXPECT_EQ(c.find("a_post(obj);", a_refuses), undo_a);
}

// A fix unit whose code is a diff: fix.yaml says why, the diff build says where.
TEST(DiffUnits, LoadWithoutObjectOrFunctions) {
  FixDir dir;
  dir.add("d-fix", "summary: a diff\ncves: [CVE-2099-0007]\nsince: 3\n", false);
  std::ofstream(dir.path() / "d-fix" / "fix.patch") << "--- a/x.c\n+++ b/x.c\n";
  const auto units = load_fix_units({dir.path()});
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].patch, dir.path() / "d-fix" / "fix.patch");
  EXPECT_EQ(units[0].since, 3u);
  EXPECT_TRUE(units[0].object.empty());
  EXPECT_TRUE(units[0].functions.empty());

  FixDir both;
  both.add("x", "summary: both\n");
  std::ofstream(both.path() / "x" / "fix.patch") << "";
  EXPECT_THAT(build_error([&] { load_fix_units({both.path()}); }),
              HasSubstr("has both fix.c and fix.patch"));

  FixDir with_object;
  with_object.add("x", "summary: s\nobject: vmlinux\n", false);
  std::ofstream(with_object.path() / "x" / "fix.patch") << "";
  EXPECT_THAT(build_error([&] { load_fix_units({with_object.path()}); }),
              HasSubstr("'object' is not set for a fix.patch unit"));
}

TEST(DiffUnits, ReplacementsComeFromTheDiffTableAndAreCheckedByName) {
  FixDir dir;
  dir.add("d-fix", "summary: a diff\ncves: [CVE-2099-0007]\n", false);
  std::ofstream(dir.path() / "d-fix" / "fix.patch") << "";
  dir.add("c-fix", fix_yaml("CVE-2099-0008", 1, "vmlinux", "f_c"));
  auto units = load_fix_units({dir.path()});
  attach_diff_build(units[1], {"vmlinux:f_d", "vmlinux:f_local,2"}, "/tmp/d.o");
  EXPECT_EQ(units[1].object, "vmlinux");
  ASSERT_EQ(units[1].functions.size(), 2u);
  EXPECT_EQ(units[1].functions[1].sympos, 2u);

  const auto source =
      generate_patch_source(select_fixes(units, 1, {}), {"p", 1, "6.1.0-54-amd64", "now"});
  EXPECT_THAT(source, HasSubstr("extern const struct lpmon_diff_func lpmon_funcs_d_fix[];"));
  EXPECT_THAT(source, HasSubstr(".new_func = f_c_fixed,"));
  EXPECT_THAT(source, HasSubstr("if (strcmp(lpmon_funcs_d_fix[1].name, "
                                "lpmon_funcs_vmlinux[2].old_name))\n\t\treturn -EINVAL;"));
  EXPECT_THAT(
      source,
      HasSubstr("lpmon_funcs_vmlinux[2].new_func = (void *)lpmon_funcs_d_fix[1].new_addr;"));
  EXPECT_THAT(source, HasSubstr("\"vmlinux:f_c vmlinux:f_d vmlinux:f_local,2\""));
  EXPECT_THAT(source, Not(HasSubstr("#include \"d-fix.fix.c\"")));

  EXPECT_THAT(build_error([&] {
                attach_diff_build(units[1], {"vmlinux:a", "nfsd:b"}, "/d.o");
              }),
              HasSubstr("changes both vmlinux and nfsd"));
}

TEST(DiffUnits, CvesComeFromTheHeaderOnly) {
  FixDir dir;
  const fs::path patch = dir.path() / "x.patch";
  std::ofstream(patch) << "nfsd: fix (CVE-2026-99362)\nAlso CVE-2025-1234.\n"
                       << "--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-CVE-2000-0001\n+x\n";
  EXPECT_EQ(cves_in_diff_header(patch),
            (std::vector<std::string>{"CVE-2025-1234", "CVE-2026-99362"}));
}

}  // namespace
}  // namespace lpmon::build
