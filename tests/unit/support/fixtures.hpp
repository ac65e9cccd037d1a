#pragma once

#include <filesystem>
#include <string_view>

#include "lpmon/kernel_paths.hpp"

namespace lpmon::testing {

// Paths of a static tree in tests/unit/fixtures (see the README there).
inline KernelPaths fixture(std::string_view name) {
  const std::filesystem::path root = std::filesystem::path(LPMON_FIXTURES_DIR) / name;
  return KernelPaths{.sysfs = root / "sys", .procfs = root / "proc"};
}

}  // namespace lpmon::testing
