#pragma once

#include <filesystem>

namespace lpmon {

// Where sysfs and procfs are mounted. Every reader takes one, so tests can point lpmon at a
// fake tree instead of the running kernel.
struct KernelPaths {
  std::filesystem::path sysfs = "/sys";
  std::filesystem::path procfs = "/proc";
};

}  // namespace lpmon
