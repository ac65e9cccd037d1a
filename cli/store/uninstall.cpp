// lpmon uninstall: reverts a stored release if its patch is loaded (never forced), then
// removes it from the patch store.
#include <CLI/CLI.hpp>
#include <memory>

#include "apply/common.hpp"
#include "command.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/store/boot_marker.hpp"
#include "store/store_common.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace store_command;

struct UninstallOptions {
  std::string name;  // a release id or a patch name
  bool all = false;
  StoreOptions store;
};

bool patch_loaded(const KernelPaths& paths, const std::string& name) {
  return livepatch_supported(paths) && fs::exists(patch_dir(paths, name));
}

int run_uninstall(const UninstallOptions& options, std::ostream& out, std::ostream& err) {
  store::PatchStore patches(options.store.store_root);
  const std::string running = kernel_release(options.store.paths);
  json removed = json::array();
  int code = to_int(ExitCode::ok);
  std::string failure;
  for (const std::string& kernel : patches.kernels()) {
    const std::vector<store::StoredRelease> releases = patches.level(kernel).releases;
    for (const store::StoredRelease& release : releases) {
      if (!options.all && release.id != options.name && release.name != options.name) continue;
      if (kernel == running && patch_loaded(options.store.paths, release.name)) {
        const StepResult reverted = revert_loaded(release.name, options.store, err);
        if (reverted.exit_code != 0) {
          code = reverted.exit_code;
          failure = release.id + ": lpmon revert " + release.name + " exited " +
                    std::to_string(reverted.exit_code) + "; it stays installed";
          continue;
        }
      }
      patches.remove(kernel, release.id);
      const auto marker = store::read_boot_marker(patches, kernel);
      if (marker && marker->release == release.id) store::clear_boot_marker(patches, kernel);
      removed.push_back(release_json(release));
      if (!options.store.json) out << release.id << ": uninstalled (kernel " << kernel << ")\n";
    }
  }
  // Uninstalling the current release goes back to the release before it: load that one again
  // (an atomic replace freed it when the removed one was applied).
  json restored = nullptr;
  if (!options.all && failure.empty() && !removed.empty()) {
    const store::KernelPatchLevel level = patches.level(running);
    const store::StoredRelease* current = level.current_release();
    if (current && !patch_enabled(options.store.paths, current->name)) {
      const StepResult applied =
          apply_stored(patches.verified_module(*current), std::nullopt, options.store, err);
      restored = {
          {"release", current->id}, {"exit_code", applied.exit_code}, {"apply", applied.report}};
      if (applied.exit_code == 0) {
        if (!options.store.json) {
          out << current->id << ": the previous release, applied again (the installed level of "
              << running << ")\n";
        }
      } else {
        code = applied.exit_code;
        failure = "the previous release " + current->id +
                  " could not be applied again (lpmon "
                  "apply exited " +
                  std::to_string(applied.exit_code) + "); no patch is active";
      }
    }
  }
  refresh_cve_file(patches, options.store, "uninstall", err);
  if (!failure.empty()) err << "lpmon uninstall: " << failure << '\n';
  if (removed.empty() && failure.empty() && !options.all) {
    // Not in the store: a patch of that name applied with lpmon apply is still reverted, and
    // nothing at all is fine, as for lpmon revert (a rollout's rescue may run it twice).
    if (patch_loaded(options.store.paths, options.name)) {
      const StepResult reverted = revert_loaded(options.name, options.store, err);
      code = reverted.exit_code;
      if (!options.store.json) out << options.name << ": not installed; " << reverted.text << '\n';
    } else {
      err << "lpmon uninstall: nothing is installed or loaded under the name " << options.name
          << " (lpmon list shows what is); nothing was changed\n";
    }
  }
  if (options.store.json) {
    out << json{{"command", "uninstall"},
                {"removed", removed},
                {"restored", restored},
                {"exit_code", code},
                {"message", failure}}
               .dump(-1, ' ', false, json::error_handler_t::replace)
        << '\n';
  }
  return code;
}

}  // namespace

Command add_uninstall_command(CLI::App& lpmon) {
  auto options = std::make_shared<UninstallOptions>();
  CLI::App* uninstall = lpmon.add_subcommand(
      "uninstall",
      "Revert an installed release if its patch is loaded (as lpmon revert, never forced) and "
      "remove it from the patch store. Uninstalling the current release of the running kernel "
      "goes back to the previous one, which is applied again; --all leaves no patch (root)");
  CLI::Option* name =
      uninstall
          ->add_option("name", options->name, "A release id or patch name, as lpmon list shows it")
          ->type_name("NAME");
  CLI::Option* all =
      uninstall->add_flag("--all", options->all, "Every installed release of every kernel");
  name->excludes(all);
  rollout_command::add_duration_option(*uninstall, options->store.timeout,
                                       "How long the unpatching transition may take (default 60s)");
  add_store_options(*uninstall, options->store);
  uninstall->footer(
      "A release whose revert fails (exit 13: the kernel keeps retrying) stays installed. A "
      "name neither installed nor loaded changes nothing (exit 0). Exit codes as lpmon revert.");
  return {uninstall, [options](std::ostream& out, std::ostream& err) {
            if (!options->all && options->name.empty()) {
              err << "lpmon uninstall: give a NAME or --all\n";
              return to_int(ExitCode::usage_error);
            }
            return run_uninstall(*options, out, err);
          }};
}

}  // namespace lpmon::cli
