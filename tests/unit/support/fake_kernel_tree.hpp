#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "lpmon/kernel_paths.hpp"

namespace lpmon::testing {

// A fake sysfs and procfs in a fresh temporary directory, removed again on destruction, for
// cases that static fixtures cannot express (odd values, many patches, races).
class FakeKernelTree {
 public:
  FakeKernelTree() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lpmon-tree-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = pattern;
    paths_ = KernelPaths{.sysfs = root_ / "sys", .procfs = root_ / "proc"};
    std::filesystem::create_directories(paths_.sysfs / "kernel");
    std::filesystem::create_directories(paths_.procfs / "sys" / "kernel");
  }
  ~FakeKernelTree() {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  FakeKernelTree(const FakeKernelTree&) = delete;
  FakeKernelTree& operator=(const FakeKernelTree&) = delete;

  const KernelPaths& paths() const { return paths_; }
  std::filesystem::path livepatch_dir() const { return paths_.sysfs / "kernel" / "livepatch"; }

  // Writes content plus a newline, as the kernel's show functions do.
  static void write(const std::filesystem::path& file, std::string_view content) {
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << content << '\n';
  }

  void enable_livepatch() const { std::filesystem::create_directories(livepatch_dir()); }

  // A patch directory as 6.1 has it: enabled, transition and the write-only force.
  std::filesystem::path add_patch(std::string_view name, bool enabled, bool transition) const {
    const auto dir = livepatch_dir() / name;
    write(dir / "enabled", enabled ? "1" : "0");
    write(dir / "transition", transition ? "1" : "0");
    write(dir / "force", "");
    return dir;
  }

  // /sys/module/<name>/initstate: "coming" while the module's init runs, then "live".
  void set_module_state(std::string_view name, std::string_view initstate) const {
    write(paths_.sysfs / "module" / name / "initstate", initstate);
  }

  static void add_func(const std::filesystem::path& patch_dir, std::string_view object,
                       std::string_view func, unsigned long sympos) {
    std::filesystem::create_directories(patch_dir / object /
                                        (std::string(func) + "," + std::to_string(sympos)));
  }

  void set_kernel(std::string_view release, unsigned long taint) const {
    write(paths_.procfs / "sys" / "kernel" / "osrelease", release);
    write(paths_.procfs / "sys" / "kernel" / "tainted", std::to_string(taint));
  }

  void set_task_state(int pid, std::string_view state) const {
    write(paths_.procfs / std::to_string(pid) / "patch_state", state);
  }

 private:
  std::filesystem::path root_;
  KernelPaths paths_;
};

}  // namespace lpmon::testing
