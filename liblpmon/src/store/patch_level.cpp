// The effective patch level: what the store says is installed for the running kernel, held
// against what the kernel has enabled now.
#include "lpmon/store/patch_level.hpp"

#include <algorithm>

#include "lpmon/kernel_info.hpp"
#include "lpmon/livepatch_state.hpp"
#include "store/atomic_file.hpp"

namespace lpmon::store {

namespace fs = std::filesystem;
using nlohmann::json;

EffectivePatchLevel effective_patch_level(const PatchStore& store, const KernelPaths& paths) {
  EffectivePatchLevel out;
  out.kernel = kernel_release(paths);
  for (const std::string& kernel : store.kernels()) {
    if (kernel != out.kernel) out.other_kernels.push_back(kernel);
  }
  if (!safe_path_component(out.kernel)) return out;
  const KernelPatchLevel level = store.level(out.kernel);
  if (const StoredRelease* current = level.current_release()) out.installed = *current;
  out.skipped = crashed_load(store, out.kernel, paths);
  if (!out.installed || !livepatch_supported(paths)) return out;
  const std::vector<LivepatchPatch> patches = read_patches(paths);
  out.active = std::any_of(patches.begin(), patches.end(), [&](const LivepatchPatch& p) {
    return p.name == out.installed->name && p.enabled && !p.transition;
  });
  if (out.active) out.cves_fixed = out.installed->cves;
  return out;
}

json to_json(const EffectivePatchLevel& level) {
  json j{{"kernel", level.kernel},         {"active", level.active},
         {"cves_fixed", level.cves_fixed}, {"installed", nullptr},
         {"skipped_at_boot", nullptr},     {"other_kernels", level.other_kernels}};
  if (level.installed) {
    const StoredRelease& r = *level.installed;
    j["installed"] = {{"id", r.id},         {"name", r.name}, {"version", r.version},
                      {"sha256", r.sha256}, {"cves", r.cves}, {"installed_at", r.installed_at}};
  }
  if (level.skipped) {
    j["skipped_at_boot"] = {{"release", level.skipped->release},
                            {"load_started", level.skipped->time},
                            {"reason", "its load at an earlier boot did not finish"}};
  }
  return j;
}

fs::path write_cve_file(const EffectivePatchLevel& level, const fs::path& run_dir) {
  const fs::path file = run_dir / "cves.json";
  write_file_atomically(file, to_json(level).dump(2) + "\n");
  return file;
}

}  // namespace lpmon::store
