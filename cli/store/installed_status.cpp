#include "store/installed_status.hpp"

#include "text_report.hpp"

namespace lpmon::cli {

using text_report::field;

std::optional<store::EffectivePatchLevel> read_installed_level(const std::filesystem::path& root,
                                                               const KernelPaths& paths,
                                                               std::ostream& err) {
  try {
    return store::effective_patch_level(store::PatchStore(root), paths);
  } catch (const std::exception& error) {
    err << "lpmon status: warning: the patch store cannot be read: " << error.what() << '\n';
    return std::nullopt;
  }
}

void render_installed(std::ostream& out, const store::EffectivePatchLevel& level) {
  if (!level.installed) {
    field(out, "Installed", "none (lpmon install stores a patch for this kernel)");
  } else {
    const store::StoredRelease& r = *level.installed;
    field(out, "Installed",
          r.id + (r.version.empty() ? "" : " version " + r.version) +
              (level.active ? ", active" : ", NOT active (its patch is not enabled)"));
    if (!r.cves.empty()) {
      std::string cves;
      for (const std::string& cve : r.cves) cves += (cves.empty() ? "" : " ") + cve;
      field(out, level.active ? "Installed fixes" : "Installed, not in effect", cves);
    }
  }
  if (level.skipped) {
    field(out, "Skipped at boot",
          level.skipped->release + ": its load at an earlier boot (" + level.skipped->time +
              ") did not finish; lpmon install retries it");
  }
}

}  // namespace lpmon::cli
