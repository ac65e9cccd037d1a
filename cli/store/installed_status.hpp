// What lpmon status shows of the patch store: the installed release of the running kernel,
// whether it is in effect, the CVEs it fixes, and a release skipped at boot.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "lpmon/kernel_paths.hpp"
#include "lpmon/store/patch_level.hpp"

namespace lpmon::cli {

// The installed level, or nullopt with a warning on `err` when the store cannot be read (the
// kernel's own state is still shown).
std::optional<store::EffectivePatchLevel> read_installed_level(const std::filesystem::path& root,
                                                               const KernelPaths& paths,
                                                               std::ostream& err);

// "Installed", "Installed CVEs" and "Skipped at boot" lines for the text report.
void render_installed(std::ostream& out, const store::EffectivePatchLevel& level);

}  // namespace lpmon::cli
