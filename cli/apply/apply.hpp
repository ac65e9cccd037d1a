#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "lpmon/gate/duration.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/rollout/audit_log.hpp"

namespace lpmon::cli {

struct ApplyOptions {
  std::filesystem::path module;
  std::optional<std::filesystem::path> gate;
  std::map<std::string, std::string> args;
  gate::Duration timeout = std::chrono::seconds(60);
  bool json = false;
  std::filesystem::path audit_log{rollout::kDefaultAuditLog};
  bool force = false;
  bool yes = false;
  KernelPaths paths;
};

struct RevertOptions {
  std::string patch;  // a patch name or a module file
  gate::Duration timeout = std::chrono::seconds(60);
  bool json = false;
  std::filesystem::path audit_log{rollout::kDefaultAuditLog};
  KernelPaths paths;
};

}  // namespace lpmon::cli
