#pragma once

#include <optional>
#include <string>

#include "lpmon/kernel_paths.hpp"
#include "lpmon/store/patch_store.hpp"

namespace lpmon::store {

// The crash-loop guard of lpmon boot. Before loading a release at boot it records "loading"
// (synced to disk), after the patch is applied "ok". A "loading" record still there at a later
// boot means that load never finished (the machine hung, crashed or lost power during it): the
// release is not tried again, until the user installs it again or uninstalls it.
struct BootMarker {
  std::string state;    // "loading" or "ok"
  std::string release;  // the release id
  std::string boot_id;  // /proc/sys/kernel/random/boot_id of the boot that wrote it
  std::string time;     // UTC, ISO 8601
};

// The marker of `kernel`'s patch level, if any. A malformed marker reads as none.
std::optional<BootMarker> read_boot_marker(const PatchStore& store, const std::string& kernel);
void write_boot_marker(const PatchStore& store, const std::string& kernel,
                       const BootMarker& marker);
void clear_boot_marker(const PatchStore& store, const std::string& kernel);

// This boot's id, empty when procfs has none.
std::string current_boot_id(const KernelPaths& paths);

// The release a load at an earlier boot did not finish, if the marker says so.
std::optional<BootMarker> crashed_load(const PatchStore& store, const std::string& kernel,
                                       const KernelPaths& paths);

}  // namespace lpmon::store
