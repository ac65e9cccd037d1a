#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lpmon/kernel_paths.hpp"
#include "lpmon/store/boot_marker.hpp"
#include "lpmon/store/patch_store.hpp"

namespace lpmon::store {

// Where lpmon keeps what a scanner reads about this boot (tmpfs: gone at reboot, as the
// patches are).
inline constexpr std::string_view kDefaultRunDir = "/run/lpmon";

// The effective patch level of the running kernel: the installed release, whether its patch
// is enabled now, and so which CVEs are fixed in memory at this moment.
struct EffectivePatchLevel {
  std::string kernel;
  std::optional<StoredRelease> installed;  // the current release for this kernel
  bool active = false;                     // its patch is loaded and enabled, not in transition
  std::vector<std::string> cves_fixed;     // the installed release's CVEs when active
  std::optional<BootMarker> skipped;       // a release not loaded at boot after a crashed load
  std::vector<std::string> other_kernels;  // kernels with a stored patch level, not running
};

// Reads the store and the kernel's livepatch state (liblpmon's sysfs reader). Throws
// StoreError or KernelError.
EffectivePatchLevel effective_patch_level(const PatchStore& store, const KernelPaths& paths);

nlohmann::json to_json(const EffectivePatchLevel& level);

// Writes <run_dir>/cves.json atomically: the kernel, the installed release, whether it is
// active, and the CVEs fixed now. Returns the file written.
std::filesystem::path write_cve_file(const EffectivePatchLevel& level,
                                     const std::filesystem::path& run_dir);

}  // namespace lpmon::store
