// Module files are untrusted: the name the kernel will use is checked once, in the reader, and
// nothing but a regular file is opened (issue 13, items 1 and 5).
#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <vector>

#include "fake_kernel_tree.hpp"
#include "lpmon/module_inspector.hpp"
#include "run_lpmon.hpp"
#include "verify/verify.hpp"

namespace lpmon {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::lpmon;

// A fresh temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "lpmon-modfile-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(ModuleFile, RefusesAFifoWithoutBlocking) {
  TempDir dir;
  const fs::path fifo = dir.path() / "patch.ko";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opened without O_NONBLOCK, a FIFO with no writer blocks forever: run it aside.
  auto refused = std::async(std::launch::async, [&] {
    try {
      ModuleInspector().inspect(fifo);
    } catch (const ModuleFileError& e) {
      return std::string(e.what());
    }
    return std::string("inspected");
  });
  if (refused.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    // Unblock the reader so that the test ends.
    std::ofstream(fifo) << "x";
    FAIL() << "inspecting a FIFO blocked";
  }
  EXPECT_THAT(refused.get(), HasSubstr("FIFO"));
}

TEST(ModuleFile, RefusesADeviceNodeAndADirectory) {
  try {
    ModuleFile file("/dev/null");
    ADD_FAILURE() << "opened a device node";
  } catch (const ModuleFileError& e) {
    EXPECT_EQ(e.problem(), ModuleFileProblem::unreadable);
    EXPECT_THAT(e.what(), HasSubstr("device node"));
  }
  EXPECT_THROW(ModuleFile(fs::temp_directory_path()), ModuleFileError);
}

TEST(ModuleFile, CommandsRefuseAFifoWithTheUnreadableExitCode) {
  TempDir dir;
  const fs::path fifo = dir.path() / "patch.ko";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto codes = std::async(std::launch::async, [&] {
    return std::vector<int>{lpmon({"inspect", fifo.string()}).exit_code,
                            lpmon({"verify", fifo.string()}).exit_code};
  });
  if (codes.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::ofstream(fifo) << "x";
    std::ofstream(fifo) << "x";
    FAIL() << "a command blocked on a FIFO";
  }
  EXPECT_EQ(codes.get(), (std::vector<int>{7, 7}));
}

TEST(FreshWorkDir, NeverRemovesOutsideItsRoot) {
  TempDir dir;
  const fs::path cache = dir.path() / "cache" / "verify";
  const fs::path victim = dir.path() / "victim";
  fs::create_directories(victim);
  std::ofstream(victim / "keep") << "x";
  for (const std::string name : {"../../victim", "..", ".", "", "/tmp", "a/../../victim"}) {
    EXPECT_THROW(cli::fresh_work_dir(cache, name), std::runtime_error) << name;
  }
  // A symbolic link planted in the cache does not lead the removal out of it.
  fs::create_directories(cache);
  fs::create_directory_symlink(victim, cache / "planted");
  EXPECT_THROW(cli::fresh_work_dir(cache, "planted"), std::runtime_error);
  EXPECT_TRUE(fs::exists(victim / "keep"));

  std::ofstream((cli::fresh_work_dir(cache, "lpmon_sample")) / "old") << "x";
  const fs::path again = cli::fresh_work_dir(cache, "lpmon_sample");
  EXPECT_EQ(again, fs::canonical(cache) / "lpmon_sample");
  EXPECT_TRUE(fs::is_directory(again));
  EXPECT_FALSE(fs::exists(again / "old"));
}

#if defined(LPMON_SAMPLE_KO)

std::vector<char> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const fs::path& file, const std::vector<char>& bytes) {
  std::ofstream(file, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// struct module's name[] in .gnu.linkonce.this_module of a 64-bit module (after state and
// list), found from the section headers.
char* linked_name(std::vector<char>& image) {
  Elf64_Ehdr ehdr;
  std::memcpy(&ehdr, image.data(), sizeof ehdr);
  auto section = [&](unsigned i) {
    Elf64_Shdr shdr;
    std::memcpy(&shdr, image.data() + ehdr.e_shoff + i * sizeof shdr, sizeof shdr);
    return shdr;
  };
  const Elf64_Shdr names = section(ehdr.e_shstrndx);
  for (unsigned i = 1; i < ehdr.e_shnum; ++i) {
    const Elf64_Shdr s = section(i);
    if (std::strcmp(image.data() + names.sh_offset + s.sh_name, ".gnu.linkonce.this_module") == 0) {
      return image.data() + s.sh_offset + 24;
    }
  }
  return nullptr;
}

// Overwrites the first `from` with `to`, padded with NULs to the same length.
void replace_padded(std::vector<char>& image, std::string_view from, std::string_view to) {
  ASSERT_LE(to.size(), from.size());
  const auto it = std::search(image.begin(), image.end(), from.begin(), from.end());
  ASSERT_NE(it, image.end());
  std::fill(std::copy(to.begin(), to.end(), it), it + static_cast<long>(from.size()), '\0');
}

TEST(ModuleName, TheKernelsNameWinsOverModinfo) {
  TempDir dir;
  std::vector<char> image = read_file(LPMON_SAMPLE_KO);
  replace_padded(image, std::string_view("name=lpmon_sample\0", 18), "name=../../..");
  const fs::path crafted = dir.path() / "crafted.ko";
  write_file(crafted, image);

  const ModuleInfo m = ModuleInspector(KlpLayout{}).inspect(crafted);
  EXPECT_EQ(m.name, "lpmon_sample");
  EXPECT_THAT(m.notes, ::testing::Contains(HasSubstr("'../../..'")));
}

TEST(ModuleName, ACraftedLinkedNameIsRefused) {
  for (const std::string bad : {"../../victim", "/home", "a b", "a\x1b[31m", ""}) {
    std::vector<char> image = read_file(LPMON_SAMPLE_KO);
    char* name = linked_name(image);
    ASSERT_NE(name, nullptr);
    ASSERT_STREQ(name, "lpmon_sample");
    std::memset(name, 0, 56);
    std::memcpy(name, bad.data(), bad.size());
    try {
      ModuleInspector(KlpLayout{})
          .inspect(std::span(reinterpret_cast<const std::byte*>(image.data()), image.size()),
                   "crafted");
      ADD_FAILURE() << "accepted the name '" << bad << "'";
    } catch (const ModuleFileError& e) {
      EXPECT_EQ(e.problem(), ModuleFileProblem::corrupt) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("not a module name"));
    }
  }
  // 56 bytes without a NUL: the kernel's name[] is not terminated.
  std::vector<char> image = read_file(LPMON_SAMPLE_KO);
  std::memset(linked_name(image), 'a', 56);
  EXPECT_THROW(
      ModuleInspector(KlpLayout{})
          .inspect(std::span(reinterpret_cast<const std::byte*>(image.data()), image.size()), "x"),
      ModuleFileError);
}

// lpmon's run-time data with stand-ins: the kernel "fetch" succeeds and building the guest
// fails, so that verify runs up to its work directory and stops right after it.
fs::path stub_data_dir(const fs::path& dir) {
  for (const char* file : {"mkinitramfs.sh", "run-guest.sh", "fetch-kernel.sh", "guest/init",
                           "guest/lib.sh", "verify/verify-guest.sh", "verify/workload.sh"}) {
    const fs::path path = dir / file;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << "#!/bin/sh\nexit " << (std::string(file) == "fetch-kernel.sh" ? 0 : 1)
                        << "\n";
    fs::permissions(path, fs::perms::owner_all);
  }
  fs::copy_file(LPMON_SOURCE_DIR "/cli/verify/gate.yaml", dir / "verify/gate.yaml");
  return dir;
}

// The crafted file of issue 13: verify works in <cache>/lpmon/verify/<name> and empties it
// first. Whatever the file names itself, the directory it points at survives.
TEST(ModuleName, VerifyDeletesNothingAFileNames) {
  TempDir dir;
  const fs::path victim = dir.path() / "v";
  fs::create_directories(victim);
  std::ofstream(victim / "keep") << "x";
  const fs::path cache = dir.path() / "cache";
  const fs::path data = stub_data_dir(dir.path() / "data");
  // <cache>/lpmon/verify/<name>: three levels up is `dir`.
  const std::string bad = "../../../v";
  for (const bool in_modinfo : {true, false}) {
    std::vector<char> image = read_file(LPMON_SAMPLE_KO);
    if (in_modinfo) {
      replace_padded(image, std::string_view("name=lpmon_sample\0", 18), "name=" + bad);
    } else {
      char* name = linked_name(image);
      std::memset(name, 0, 56);
      std::memcpy(name, bad.data(), bad.size());
    }
    const fs::path crafted = dir.path() / "crafted.ko";
    write_file(crafted, image);
    ::setenv("XDG_CACHE_HOME", cache.c_str(), 1);
    ::setenv("LPMON_DATA_DIR", data.c_str(), 1);
    const auto r = lpmon({"verify", crafted.string(), "--accel", "tcg"});
    ::unsetenv("XDG_CACHE_HOME");
    ::unsetenv("LPMON_DATA_DIR");
    const std::string which = in_modinfo ? "in .modinfo: " : "linked: ";
    EXPECT_TRUE(fs::exists(victim / "keep")) << which << r.err;
    if (in_modinfo) {
      // The kernel's name is used: the run got as far as building the guest, in its place.
      EXPECT_THAT(r.err, HasSubstr("building the guest's initramfs failed")) << which << r.err;
      EXPECT_TRUE(fs::is_directory(cache / "lpmon/verify/lpmon_sample")) << which;
    } else {
      EXPECT_EQ(r.exit_code, 9) << which << r.err;
      EXPECT_THAT(r.err, HasSubstr("not a module name")) << which;
    }
  }
}

#endif

}  // namespace
}  // namespace lpmon
