// lpmon install: puts a livepatch module into the patch store and applies it behind the gate;
// it becomes the kernel's installed patch level (what lpmon boot loads) once applied.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "apply/common.hpp"
#include "command.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/store/boot_marker.hpp"
#include "store/store_common.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace store_command;

struct InstallOptions {
  fs::path module;
  std::optional<fs::path> gate;
  StoreOptions store;
};

// After an apply that was rolled back, the release that was current before may be gone from
// the kernel (an atomic replace that completed frees the patches it replaced): load it again
// from the store so the host keeps its patch level.
std::optional<StepResult> restore_current(store::PatchStore& patches, const std::string& kernel,
                                          const StoreOptions& options, std::ostream& err) {
  const store::KernelPatchLevel level = patches.level(kernel);
  const store::StoredRelease* current = level.current_release();
  if (!current || patch_enabled(options.paths, current->name)) return std::nullopt;
  err << "lpmon install: restoring the installed release " << current->id
      << " from the store (the failed upgrade replaced it)\n";
  return apply_stored(patches.verified_module(*current), std::nullopt, options, err);
}

int run_install(const InstallOptions& options, std::ostream& out, std::ostream& err) {
  store::PatchStore patches(options.store.store_root);
  store::StoredRelease release;
  try {
    release = patches.add(options.module);
  } catch (const std::exception& error) {
    err << "lpmon install: " << error.what() << '\n';
    return store_error_code(error);
  }
  const std::string kernel = kernel_release(options.store.paths);
  json j{{"command", "install"}, {"release", release_json(release)}, {"kernel", kernel}};
  auto finish = [&](int code, bool applied, const std::string& message) {
    j["applied"] = applied;
    j["exit_code"] = code;
    j["message"] = message;
    j["current"] = patches.level(release.kernel).current;
    if (options.store.json) {
      out << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    } else {
      out << release.id << ": " << message << '\n';
    }
    return code;
  };

  if (release.kernel != kernel) {
    // Nothing to apply to on this kernel: it becomes that kernel's patch level, for its boot.
    patches.mark_current(release.kernel, release.id);
    return finish(to_int(ExitCode::ok), false,
                  "stored as the patch level of kernel " + release.kernel + " (this kernel is " +
                      kernel + "); lpmon boot loads it when that kernel runs");
  }

  const StepResult applied =
      apply_stored(patches.verified_module(release), options.gate, options.store, err);
  j["apply"] = applied.report;
  if (applied.exit_code == 0) {
    patches.mark_current(kernel, release.id);
    // A release the user installs again is tried at boot again.
    store::clear_boot_marker(patches, kernel);
    refresh_cve_file(patches, options.store, "install", err);
    return finish(0, true, "installed and applied; the installed patch level of " + kernel);
  }
  const std::string why = applied.report.is_object() ? applied.report.value("message", "") : "";
  std::string message = "stored but NOT applied (lpmon apply exited " +
                        std::to_string(applied.exit_code) + (why.empty() ? "" : ": " + why) +
                        "); the installed patch level is unchanged";
  if (const auto restored = restore_current(patches, kernel, options.store, err)) {
    j["restored"] = restored->report;
    message += restored->exit_code == 0
                   ? "; the previous release " + patches.level(kernel).current +
                         " was restored from the store"
                   : "; restoring the previous release " + patches.level(kernel).current +
                         " failed too (exit " + std::to_string(restored->exit_code) + ")";
  }
  refresh_cve_file(patches, options.store, "install", err);
  err << "lpmon install: " << release.id << ": " << message << '\n';
  return finish(applied.exit_code, false, message);
}

}  // namespace

Command add_install_command(CLI::App& lpmon) {
  auto options = std::make_shared<InstallOptions>();
  CLI::App* install = lpmon.add_subcommand(
      "install",
      "Store a livepatch module in the patch store and apply it behind the gate (as lpmon "
      "apply); once applied it is this kernel's installed patch level, which lpmon boot loads "
      "at every boot (root)");
  install->add_option("module", options->module, "The livepatch module file")
      ->type_name("PATCH.ko")
      ->required();
  install->add_option("--gate", options->gate, "A gate file (docs/gate.md); its local checks run")
      ->type_name("FILE");
  rollout_command::add_duration_option(
      *install, options->store.timeout,
      "How long the transition may take before it is reversed (default 60s)");
  add_store_options(*install, options->store);
  install->footer(
      "A module for another kernel release is stored as that kernel's patch level, not applied. "
      "A module the gate stops stays stored but not applied, and the release installed before "
      "stays (restored from the store if the new one had replaced it). Exit codes as lpmon "
      "apply.");
  return {install, [options](std::ostream& out, std::ostream& err) {
            return run_install(*options, out, err);
          }};
}

}  // namespace lpmon::cli
