#include "inspect.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "fake_kernel_tree.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon_cli.hpp"

namespace lpmon {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using testing::FakeKernelTree;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

std::vector<std::byte> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> chars{std::istreambuf_iterator<char>(in), {}};
  std::vector<std::byte> bytes(chars.size());
  std::transform(chars.begin(), chars.end(), bytes.begin(), [](char c) { return std::byte(c); });
  return bytes;
}

// Overwrites the first occurrence of `from` in the image with `to` (same length).
void replace_bytes(std::vector<std::byte>& image, std::string_view from, std::string_view to) {
  ASSERT_EQ(from.size(), to.size());
  const auto* f = reinterpret_cast<const std::byte*>(from.data());
  const auto it = std::search(image.begin(), image.end(), f, f + from.size());
  ASSERT_NE(it, image.end()) << "'" << from << "' is not in the image";
  std::transform(to.begin(), to.end(), it, [](char c) { return std::byte(c); });
}

// A file in the temporary directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::vector<std::byte>& content)
      : path_(fs::temp_directory_path() /
              ("lpmon-inspect-" + std::to_string(::getpid()) + "-" + std::to_string(n_++))) {
    std::ofstream(path_, std::ios::binary)
        .write(reinterpret_cast<const char*>(content.data()),
               static_cast<std::streamsize>(content.size()));
  }
  ~TempFile() { fs::remove(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int n_ = 0;
  fs::path path_;
};

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> bytes(text.size());
  std::transform(text.begin(), text.end(), bytes.begin(), [](char c) { return std::byte(c); });
  return bytes;
}

ModuleFileProblem problem_of(auto&& action) {
  try {
    action();
  } catch (const ModuleFileError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
    return e.problem();
  }
  ADD_FAILURE() << "no ModuleFileError";
  return ModuleFileProblem::unreadable;
}

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

Outcome lpmon(std::vector<std::string> args) {
  args.insert(args.begin(), {"lpmon", "inspect"});
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out, err;
  const int code = cli::run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

TEST(ModuleInspector, MissingFileOrDirectoryIsUnreadable) {
  ModuleInspector inspector;
  EXPECT_EQ(problem_of([&] { inspector.inspect("/nonexistent/lpmon/x.ko"); }),
            ModuleFileProblem::unreadable);
  EXPECT_EQ(problem_of([&] { inspector.inspect(fs::temp_directory_path()); }),
            ModuleFileProblem::unreadable);
}

TEST(ModuleInspector, NonElfAndNonModuleElfAreNotModules) {
  ModuleInspector inspector;
  for (std::string_view text : {"", "hello, not a module\n",
                                "\xfd"
                                "7zXZ\0 compressed"}) {
    EXPECT_EQ(problem_of([&] { inspector.inspect(bytes_of(text), "x"); }),
              ModuleFileProblem::not_a_module)
        << text;
  }
  try {
    inspector.inspect(bytes_of(std::string_view("\xfd"
                                                "7zXZ\0\0",
                                                7)),
                      "x.ko.xz");
  } catch (const ModuleFileError& e) {
    EXPECT_THAT(e.what(), HasSubstr("xz -dk"));
  }
  // /bin/true is a complete, well-formed ELF: an executable, not a relocatable .ko.
  EXPECT_EQ(problem_of([&] { inspector.inspect("/bin/true"); }), ModuleFileProblem::not_a_module);
}

TEST(ModuleInspector, ElfHeaderOnlyIsTruncated) {
  ModuleInspector inspector;
  std::string header(64, '\0');
  header.replace(0, 6,
                 "\x7f"
                 "ELF\x02\x01");  // 64-bit little-endian
  header[16] = 1;                 // ET_REL
  header[40] = 0x40;              // section headers right after the header ...
  header[58] = 64;                // ... 64 bytes each
  header[60] = 5;                 // ... five of them, none in the file
  EXPECT_EQ(problem_of([&] { inspector.inspect(bytes_of(header), "x"); }),
            ModuleFileProblem::corrupt);
  EXPECT_EQ(problem_of([&] {
              inspector.inspect(bytes_of("\x7f"
                                         "EL"),
                                "x");
            }),
            ModuleFileProblem::corrupt);
}

TEST(CheckVermagic, NamesBothReleasesOnMismatch) {
  ModuleInfo module;
  module.release = "6.1.0-56-amd64";
  EXPECT_TRUE(check_vermagic(module, "6.1.0-56-amd64").matches);
  const VermagicCheck other = check_vermagic(module, "6.1.0-57-amd64");
  EXPECT_FALSE(other.matches);
  EXPECT_EQ(other.verdict, "mismatch: built for 6.1.0-56-amd64, kernel is 6.1.0-57-amd64");
  module.release.reset();
  EXPECT_THAT(check_vermagic(module, "6.1.0-56-amd64").verdict, StartsWith("unknown"));
}

TEST(InspectCli, FileProblemsAreOneLineAndTheirOwnExitCode) {
  const TempFile text(bytes_of("not a module\n"));
  for (const auto& [file, code] : std::vector<std::pair<std::string, int>>{
           {"/nonexistent/x.ko", 7}, {text.path().string(), 8}, {"/bin/true", 8}}) {
    const Outcome outcome = lpmon({file, "--json"});
    EXPECT_EQ(outcome.exit_code, code) << file;
    EXPECT_THAT(outcome.out, IsEmpty());
    EXPECT_THAT(outcome.err, StartsWith("lpmon inspect: " + file + ": "));
    EXPECT_EQ(std::count(outcome.err.begin(), outcome.err.end(), '\n'), 1) << outcome.err;
  }
}

TEST(InspectCli, HelpListsTheInspectExitCodes) {
  const Outcome outcome = lpmon({"--help"});
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_THAT(outcome.out, HasSubstr("9  the module file is a truncated or malformed ELF"));
  EXPECT_THAT(outcome.out, HasSubstr("11  the module was built for another kernel release"));
}

#if defined(LPMON_SAMPLE_KO) && defined(LPMON_TEST_VMLINUX)

InspectOptions with_test_btf() {
  return {.kernel_btf = LPMON_TEST_VMLINUX, .paths = {}};
}

TEST(KlpLayout, FromTheTestKernelsBtf) {
  const KlpLayout l = KlpLayout::from_btf(LPMON_TEST_VMLINUX);
  // Debian 6.1 amd64, as pahole shows them.
  EXPECT_EQ(l.pointer_size, 8u);
  EXPECT_EQ(l.func_size, 152u);
  EXPECT_EQ(l.func_old_sympos, 16u);
  EXPECT_EQ(l.object_size, 168u);
  EXPECT_EQ(l.object_funcs, 8u);
  EXPECT_EQ(l.patch_objs, 8u);
  EXPECT_EQ(l.patch_replace, 24u);
}

TEST(KlpLayout, FileWithoutBtfIsAKernelError) {
  const TempFile text(bytes_of("no BTF here\n"));
  EXPECT_THROW(KlpLayout::from_btf(text.path()), KernelError);
}

TEST(ModuleInspector, PlainKlpSampleIsDecodedFromItsElf) {
  ModuleInspector inspector(with_test_btf());
  const ModuleInfo m = inspector.inspect(LPMON_SAMPLE_KO);

  EXPECT_EQ(m.name, "lpmon_sample");
  EXPECT_TRUE(m.livepatch);
  EXPECT_EQ(m.release, LPMON_TEST_RELEASE);
  EXPECT_THAT(*m.vermagic, StartsWith(std::string(LPMON_TEST_RELEASE) + " SMP"));
  EXPECT_EQ(m.license, "GPL");
  EXPECT_EQ(m.description, "lpmon sample livepatch: replaces cmdline_proc_show");
  EXPECT_FALSE(m.version);
  EXPECT_THAT(m.depends, IsEmpty());
  EXPECT_FALSE(m.signature.is_signed);
  EXPECT_TRUE(m.has_btf);
  EXPECT_TRUE(m.has_modversions);
  EXPECT_FALSE(m.lpmon);
  EXPECT_THAT(m.notes, IsEmpty());
  const PatchContents& p = m.patch;
  EXPECT_EQ(p.elf_unknown_reason, "");
  EXPECT_EQ(p.replace, false);
  EXPECT_EQ(p.replace_source, PatchSource::elf);
  EXPECT_EQ(p.objects_source, PatchSource::elf);
  EXPECT_THAT(p.klp_patch_location, StartsWith(".data+"));
  EXPECT_EQ(p.layout_btf, fs::path(LPMON_TEST_VMLINUX));
  ASSERT_TRUE(p.objects);
  EXPECT_THAT(*p.objects, ElementsAre(PatchedObject{"vmlinux", {{"cmdline_proc_show", 0}}}));
}

const std::vector<PatchedObject> kFixesV2Objects{
    {"vmlinux", {{"cmdline_proc_show", 0}}},
    {"lpmon_target",
     {{"lpmon_target_check_len", 0},
      {"lpmon_target_parse_flags", 0},
      {"lpmon_target_session_use", 0},
      {"lpmon_target_wait_released", 0}}},
};

TEST(ModuleInspector, LpmonBuildPatchElfAndLpmonFunctionsAgree) {
  ModuleInspector inspector(with_test_btf());
  const ModuleInfo m = inspector.inspect(LPMON_FIXES_V2_KO);

  EXPECT_EQ(m.name, "lpmon_fixes_v2");
  EXPECT_TRUE(m.livepatch);
  EXPECT_EQ(m.version, "2");
  EXPECT_TRUE(m.srcversion);
  EXPECT_EQ(m.patch.replace, true);
  EXPECT_EQ(m.patch.replace_source, PatchSource::elf);
  EXPECT_EQ(m.patch.objects_source, PatchSource::elf);
  EXPECT_EQ(m.patch.objects, kFixesV2Objects);
  // A disagreement with lpmon_functions would be a note.
  EXPECT_THAT(m.notes, IsEmpty());
  ASSERT_TRUE(m.lpmon);
  EXPECT_THAT(m.lpmon->cves, ElementsAre("CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0003",
                                         "CVE-2099-0004", "CVE-2099-1001"));
  EXPECT_THAT(m.lpmon->excluded_cves, IsEmpty());
  EXPECT_EQ(m.lpmon->fixes.size(), 5u);
  EXPECT_EQ(m.lpmon->target_release, LPMON_TEST_RELEASE);
  EXPECT_EQ(m.lpmon->built, "1970-01-01T00:00:00Z");
}

TEST(ModuleInspector, LpmonBuildPatchWithoutBtfListsLpmonFunctions) {
  const TempFile not_btf(bytes_of("not BTF\n"));
  ModuleInspector inspector({.kernel_btf = not_btf.path(), .paths = {}});
  const ModuleInfo m = inspector.inspect(LPMON_FIXES_V2_NO0002_KO);

  EXPECT_THAT(m.patch.elf_unknown_reason, HasSubstr("cannot read BTF from"));
  EXPECT_EQ(m.patch.objects_source, PatchSource::lpmon_build);
  std::vector<PatchedObject> without_0002 = kFixesV2Objects;
  std::erase(without_0002[1].functions, PatchedFunction{"lpmon_target_parse_flags", 0});
  EXPECT_EQ(m.patch.objects, without_0002);
  EXPECT_EQ(m.patch.replace, true);
  EXPECT_EQ(m.patch.replace_source, PatchSource::lpmon_build);
  ASSERT_TRUE(m.lpmon);
  EXPECT_THAT(m.lpmon->excluded_cves, ElementsAre("CVE-2099-0002"));
}

TEST(ModuleInspector, PlainKlpWithoutUsableBtfIsUnknownWithAReason) {
  const TempFile not_btf(bytes_of("not BTF\n"));
  ModuleInspector inspector({.kernel_btf = not_btf.path(), .paths = {}});
  const ModuleInfo m = inspector.inspect(LPMON_SAMPLE_KO);

  EXPECT_TRUE(m.livepatch);
  EXPECT_FALSE(m.patch.objects);
  EXPECT_FALSE(m.patch.replace);
  EXPECT_THAT(m.patch.elf_unknown_reason, HasSubstr(not_btf.path().string()));
}

TEST(ModuleInspector, RunningKernelsBtfOnlyForItsOwnRelease) {
  FakeKernelTree tree;
  fs::create_directories(tree.paths().sysfs / "kernel/btf");
  fs::create_symlink(LPMON_TEST_VMLINUX, tree.paths().sysfs / "kernel/btf/vmlinux");

  tree.set_kernel(LPMON_TEST_RELEASE, 0);
  ModuleInspector same({.kernel_btf = std::nullopt, .paths = tree.paths()});
  const ModuleInfo decoded = same.inspect(LPMON_SAMPLE_KO);
  EXPECT_EQ(decoded.patch.layout_btf, tree.paths().sysfs / "kernel/btf/vmlinux");
  EXPECT_TRUE(decoded.patch.objects);

  // Another release's layout could read the wrong bytes: not used.
  tree.set_kernel("6.1.0-99-amd64", 0);
  ModuleInspector other({.kernel_btf = std::nullopt, .paths = tree.paths()});
  const ModuleInfo m = other.inspect(LPMON_SAMPLE_KO);
  EXPECT_NE(m.patch.layout_btf, tree.paths().sysfs / "kernel/btf/vmlinux");
}

TEST(ModuleInspector, LayoutFromAnotherKernelsBtfIsANote) {
  // Raw BTF (as in /sys/kernel/btf) with another release's banner after it.
  std::vector<std::byte> btf = read_file(LPMON_TEST_RAW_BTF);
  const auto banner = bytes_of("Linux version 6.1.0-99-amd64 (debian-kernel@lists.debian.org)");
  btf.insert(btf.end(), banner.begin(), banner.end());
  const TempFile other(btf);
  ModuleInspector inspector({.kernel_btf = other.path(), .paths = {}});
  const ModuleInfo m = inspector.inspect(LPMON_SAMPLE_KO);

  EXPECT_TRUE(m.patch.objects);
  EXPECT_THAT(m.notes, ElementsAre("the klp layout is from the BTF of kernel 6.1.0-99-amd64, the "
                                   "module is built for " LPMON_TEST_RELEASE));
}

TEST(ModuleInspector, NotALivepatchHasNoPatchContents) {
  ModuleInspector inspector(with_test_btf());
  const ModuleInfo m = inspector.inspect(LPMON_TARGET_KO);

  EXPECT_EQ(m.name, "lpmon_target");
  EXPECT_FALSE(m.livepatch);
  EXPECT_FALSE(m.patch.objects);
  EXPECT_FALSE(m.patch.replace);
}

TEST(ModuleInspector, TruncatedModuleIsCorruptAtEveryCut) {
  const std::vector<std::byte> image = read_file(LPMON_SAMPLE_KO);
  ModuleInspector inspector(with_test_btf());
  for (std::size_t cut :
       {std::size_t{1}, std::size_t{3}, std::size_t{20}, std::size_t{63}, std::size_t{64},
        std::size_t{4096}, image.size() / 2, image.size() - 64, image.size() - 1}) {
    EXPECT_EQ(problem_of([&] { inspector.inspect(std::span(image).first(cut), "cut"); }),
              ModuleFileProblem::corrupt)
        << "cut at " << cut;
  }
}

TEST(ModuleInspector, ObjectWithoutThisModuleIsNotAModule) {
  std::vector<std::byte> image = read_file(LPMON_SAMPLE_KO);
  // What a module is before modpost links it: the section is renamed away.
  replace_bytes(image, ".gnu.linkonce.this_module", ".gnu.linkonce.this_modulX");
  ModuleInspector inspector(with_test_btf());
  try {
    inspector.inspect(image, "sample.o");
    ADD_FAILURE() << "inspected a module without .gnu.linkonce.this_module";
  } catch (const ModuleFileError& e) {
    EXPECT_EQ(e.problem(), ModuleFileProblem::not_a_module);
    EXPECT_THAT(e.what(), HasSubstr("modpost"));
  }
}

TEST(ModuleInspector, UndecodableKlpFuncIsUnknownNotAnError) {
  std::vector<std::byte> image = read_file(LPMON_SAMPLE_KO);
  // old_name is no longer a symbol name: the arrays do not decode, the rest still does.
  replace_bytes(image, std::string_view("cmdline_proc_show\0", 18),
                std::string_view("\x01mdline_proc_show\0", 18));
  ModuleInspector inspector(with_test_btf());
  const ModuleInfo m = inspector.inspect(image, "sample");

  EXPECT_EQ(m.name, "lpmon_sample");
  EXPECT_FALSE(m.patch.objects);
  EXPECT_THAT(m.patch.elf_unknown_reason, HasSubstr("old_name is not a symbol name"));
}

TEST(InspectCli, SampleTextAndExitZero) {
  const Outcome outcome = lpmon({LPMON_SAMPLE_KO, "--kernel-btf", LPMON_TEST_VMLINUX,
                                 "--kernel-release", LPMON_TEST_RELEASE});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_THAT(outcome.err, IsEmpty());
  EXPECT_THAT(outcome.out, HasSubstr("\nLivepatch:       yes\n"));
  EXPECT_THAT(outcome.out, HasSubstr("\nReplace:         no: stacks on the patches"));
  EXPECT_THAT(outcome.out, HasSubstr("\nFunctions:       1 in 1 object (klp_patch at .data+"));
  EXPECT_THAT(outcome.out, HasSubstr("\n  vmlinux:       cmdline_proc_show\n"));
}

TEST(InspectCli, FixesJsonHasMetadataAndObjects) {
  const Outcome outcome = lpmon({LPMON_FIXES_V2_KO, "--json", "--kernel-btf", LPMON_TEST_VMLINUX,
                                 "--kernel-release", LPMON_TEST_RELEASE});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const auto j = nlohmann::json::parse(outcome.out);
  EXPECT_EQ(j.at("replace"), true);
  EXPECT_EQ(j.at("kernel").at("verdict"), "matches");
  EXPECT_EQ(j.at("objects").size(), 2u);
  EXPECT_EQ(j.at("objects")[1].at("functions").size(), 4u);
  EXPECT_EQ(j.at("lpmon").at("fixes")[0], "cmdline-redact");
  EXPECT_EQ(j.at("signature").at("signed"), false);
}

TEST(InspectCli, WrongKernelAndNotLivepatchHaveTheirOwnExitCodes) {
  const Outcome wrong = lpmon({LPMON_SAMPLE_KO, "--kernel-release", "6.1.0-99-amd64"});
  EXPECT_EQ(wrong.exit_code, 11);
  EXPECT_THAT(wrong.out, HasSubstr("Kernel:          mismatch: built for"));
  EXPECT_EQ(wrong.err, std::string("lpmon inspect: ") + LPMON_SAMPLE_KO + ": mismatch: built for " +
                           LPMON_TEST_RELEASE + ", kernel is 6.1.0-99-amd64\n");

  const Outcome target = lpmon({LPMON_TARGET_KO, "--kernel-release", LPMON_TEST_RELEASE});
  EXPECT_EQ(target.exit_code, 10);
  EXPECT_THAT(target.err, HasSubstr("not a livepatch"));

  // Without --kernel-release: the running kernel's, from procfs.
  FakeKernelTree tree;
  tree.set_kernel(LPMON_TEST_RELEASE, 0);
  const Outcome running = lpmon({LPMON_SAMPLE_KO, "--procfs-root", tree.paths().procfs.string(),
                                 "--sysfs-root", tree.paths().sysfs.string()});
  EXPECT_EQ(running.exit_code, 0) << running.err;
}

TEST(InspectCli, TruncatedModuleIsExitNine) {
  std::vector<std::byte> image = read_file(LPMON_SAMPLE_KO);
  image.resize(image.size() / 3);
  const TempFile cut(image);
  const Outcome outcome = lpmon({cut.path().string()});
  EXPECT_EQ(outcome.exit_code, 9);
  EXPECT_THAT(outcome.err, HasSubstr("truncated ELF"));
}

TEST(InspectCli, DescriptionThatIsNotUtf8StillGivesJson) {
  std::vector<std::byte> image = read_file(LPMON_SAMPLE_KO);
  replace_bytes(image, "lpmon sample livepatch", "lpmon \xff\xfe\x1b[3m livepatch");
  const TempFile odd(image);
  const Outcome json =
      lpmon({odd.path().string(), "--json", "--kernel-release", LPMON_TEST_RELEASE});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(nlohmann::json::parse(json.out).at("description").get<std::string>(),
              StartsWith("lpmon \xef\xbf\xbd"));  // U+FFFD
  // No escape sequence reaches the terminal.
  const Outcome text = lpmon({odd.path().string(), "--kernel-release", LPMON_TEST_RELEASE});
  EXPECT_THAT(text.out, HasSubstr("?[3m livepatch"));
}

#endif

#if defined(LPMON_SIGNED_SAMPLE_KO)

TEST(ModuleInspector, SignatureSignerKeyAndHash) {
  ModuleInspector inspector;
  const ModuleInfo m = inspector.inspect(LPMON_SIGNED_SAMPLE_KO);

  EXPECT_TRUE(m.signature.is_signed);
  EXPECT_EQ(m.signature.id_type, "PKCS#7");
  EXPECT_EQ(m.signature.signer, "lpmon test signing key");
  EXPECT_EQ(m.signature.hash_algorithm, "sha256");
  EXPECT_GT(m.signature.signature_size, 0u);
  std::ifstream serial_file(LPMON_SIGNED_SAMPLE_SERIAL);
  std::string serial;
  std::getline(serial_file, serial);  // serial=1A8433...
  std::string key = m.signature.key_id;
  std::erase(key, ':');
  EXPECT_EQ("serial=" + key, serial);
  // The signature does not hide the module.
  EXPECT_EQ(m.name, "lpmon_sample");
  EXPECT_TRUE(m.livepatch);
}

#endif

}  // namespace
}  // namespace lpmon
