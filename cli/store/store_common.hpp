// What lpmon install, uninstall, list and boot share: where the store and /run/lpmon are,
// and the one call into lpmon apply/revert they make.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "lpmon/gate/duration.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/rollout/audit_log.hpp"
#include "lpmon/store/patch_level.hpp"
#include "lpmon/store/patch_store.hpp"

namespace lpmon::cli::store_command {

struct StoreOptions {
  std::filesystem::path store_root{store::kDefaultStoreRoot};
  std::filesystem::path run_dir{store::kDefaultRunDir};
  std::filesystem::path audit_log{rollout::kDefaultAuditLog};
  gate::Duration timeout = std::chrono::seconds(60);
  bool json = false;
  KernelPaths paths;
};

// --store-root, --run-dir, --audit-log, --json and the kernel roots.
void add_store_options(CLI::App& command, StoreOptions& options);

// What liblpmon's apply_patch or revert_patch reported: the exit code, the outcome as JSON
// (result, message, transition, rollback) and its message.
struct StepResult {
  int exit_code = 0;
  nlohmann::json report;
  std::string text;
};

// Applies a stored module file with liblpmon's apply_patch (behind `gate` when given), as
// lpmon apply does. Its progress and errors go to `err`.
StepResult apply_stored(const std::filesystem::path& module,
                        const std::optional<std::filesystem::path>& gate,
                        const StoreOptions& options, std::ostream& err);
// Reverts a loaded patch with liblpmon's revert_patch (never forced).
StepResult revert_loaded(const std::string& patch, const StoreOptions& options, std::ostream& err);

// Rewrites <run-dir>/cves.json from the store and the kernel; a failure is a warning on
// `err`, since the patch level itself is unaffected.
void refresh_cve_file(const store::PatchStore& store, const StoreOptions& options,
                      const std::string& command, std::ostream& err);

// Whether a patch of this name is loaded and enabled now (sysfs).
bool patch_enabled(const KernelPaths& paths, const std::string& name);

nlohmann::json release_json(const store::StoredRelease& release);

// The exit code for an exception of the store or the module reader.
int store_error_code(const std::exception& error);

}  // namespace lpmon::cli::store_command
