// lpmon list: the installed releases per kernel release against the patches loaded now.
#include <CLI/CLI.hpp>
#include <memory>
#include <set>

#include "command.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/store/boot_marker.hpp"
#include "store/store_common.hpp"

namespace lpmon::cli {
namespace {

using nlohmann::json;
using namespace store_command;

std::string role(const store::KernelPatchLevel& level, const std::string& id) {
  if (id == level.current) return "current";
  if (id == level.previous) return "previous";
  return "stored";
}

int run_list(const StoreOptions& options, std::ostream& out) {
  store::PatchStore patches(options.store_root);
  const std::string running = kernel_release(options.paths);
  std::vector<LivepatchPatch> loaded;
  if (livepatch_supported(options.paths)) loaded = read_patches(options.paths);
  std::set<std::string> installed_names;

  json kernels = json::array();
  for (const std::string& kernel : patches.kernels()) {
    const store::KernelPatchLevel level = patches.level(kernel);
    const bool is_running = kernel == running;
    const auto skipped =
        is_running ? store::crashed_load(patches, kernel, options.paths) : std::nullopt;
    json releases = json::array();
    if (!options.json) {
      out << "kernel " << kernel << (is_running ? " (running)" : "") << ":\n";
    }
    for (const store::StoredRelease& r : level.releases) {
      std::string state = "not running";
      if (is_running) {
        installed_names.insert(r.name);
        const auto it = std::find_if(loaded.begin(), loaded.end(),
                                     [&](const LivepatchPatch& p) { return p.name == r.name; });
        state = it == loaded.end() ? "not loaded"
                : it->transition   ? "in transition"
                : it->enabled      ? "enabled"
                                   : "loaded, disabled";
        if (skipped && skipped->release == r.id)
          state += ", skipped at boot (earlier load crashed)";
      }
      json j = release_json(r);
      j["role"] = role(level, r.id);
      j["state"] = state;
      releases.push_back(j);
      if (!options.json) {
        out << "  " << r.id << "  " << role(level, r.id) << "  " << state;
        if (!r.version.empty()) out << "  version " << r.version;
        if (!r.cves.empty()) {
          out << "  fixes";
          for (const std::string& cve : r.cves) out << ' ' << cve;
        }
        out << '\n';
      }
    }
    kernels.push_back({{"kernel", kernel},
                       {"running", is_running},
                       {"current", level.current},
                       {"previous", level.previous},
                       {"releases", releases}});
  }
  json unmanaged = json::array();
  for (const LivepatchPatch& p : loaded) {
    if (!installed_names.contains(p.name)) unmanaged.push_back(p.name);
  }
  if (options.json) {
    out << json{{"command", "list"},
                {"running_kernel", running},
                {"kernels", kernels},
                {"loaded_not_installed", unmanaged}}
               .dump(-1, ' ', false, json::error_handler_t::replace)
        << '\n';
    return to_int(ExitCode::ok);
  }
  if (kernels.empty()) out << "no patch is installed (" << options.store_root.string() << ")\n";
  for (const auto& name : unmanaged) {
    out << "loaded but not installed: " << name.get<std::string>() << '\n';
  }
  return to_int(ExitCode::ok);
}

}  // namespace

Command add_list_command(CLI::App& lpmon) {
  auto options = std::make_shared<store_command::StoreOptions>();
  CLI::App* list = lpmon.add_subcommand(
      "list", "The releases in the patch store per kernel release, and which of them are loaded");
  add_store_options(*list, *options);
  return {list, [options](std::ostream& out, std::ostream&) { return run_list(*options, out); }};
}

}  // namespace lpmon::cli
