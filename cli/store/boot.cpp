// lpmon boot: loads the installed patch level of the running kernel early at boot, unless a
// kill switch says not to or the same release's load did not finish at an earlier boot.
#include <CLI/CLI.hpp>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "apply/common.hpp"
#include "command.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/store/boot_marker.hpp"
#include "lpmon/util/clock.hpp"
#include "store/store_common.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace store_command;

inline constexpr std::string_view kDefaultDisableFile = "/etc/lpmon/disable";

struct BootOptions {
  fs::path disable_file{kDefaultDisableFile};
  StoreOptions store;
};

// Why boot must not load anything, or empty: lpmon.disable=1 on the kernel command line, or
// the disable file.
std::string kill_switch(const BootOptions& options) {
  std::ifstream cmdline(options.store.paths.procfs / "cmdline");
  std::string word;
  while (cmdline >> word) {
    if (word == "lpmon.disable=1") return "lpmon.disable=1 is on the kernel command line";
  }
  std::error_code ec;
  if (fs::exists(options.disable_file, ec)) return options.disable_file.string() + " exists";
  return "";
}

int run_boot(const BootOptions& options, std::ostream& out, std::ostream& err) {
  store::PatchStore patches(options.store.store_root);
  const std::string kernel = kernel_release(options.store.paths);
  rollout::AuditLog audit(options.store.audit_log, "boot");
  if (!audit.warning().empty()) err << "lpmon boot: warning: " << audit.warning() << '\n';
  json j{{"command", "boot"}, {"kernel", kernel}, {"skipped_kernels", json::array()}};
  auto finish = [&](ExitCode code, const std::string& result, const std::string& message) {
    refresh_cve_file(patches, options.store, "boot", err);
    j["result"] = result;
    j["message"] = message;
    j["exit_code"] = to_int(code);
    audit.record("boot-" + result, {{"kernel", kernel}, {"message", message}});
    if (options.store.json) {
      out << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    } else {
      out << "lpmon boot: " << message << '\n';
    }
    return to_int(code);
  };

  if (const std::string why = kill_switch(options); !why.empty()) {
    return finish(ExitCode::ok, "disabled", "not loading any patch: " + why);
  }
  for (const std::string& other : patches.kernels()) {
    if (other == kernel) continue;
    const store::KernelPatchLevel level = patches.level(other);
    j["skipped_kernels"].push_back(other);
    if (!options.store.json) {
      out << "lpmon boot: skipping the patch level of kernel " << other << " ("
          << (level.current.empty() ? "no current release" : level.current)
          << "): the running kernel is " << kernel << '\n';
    }
  }
  const store::KernelPatchLevel level = patches.level(kernel);
  const store::StoredRelease* release = level.current_release();
  if (!release) {
    return finish(ExitCode::ok, "nothing-installed", "no patch is installed for " + kernel);
  }
  j["release"] = release_json(*release);
  if (const auto crashed = store::crashed_load(patches, kernel, options.store.paths);
      crashed && crashed->release == release->id) {
    return finish(ExitCode::runtime_error, "skipped-crashed",
                  "not loading " + release->id + ": its load at an earlier boot (" + crashed->time +
                      ") did not finish, so the machine may have hung or crashed in it; "
                      "lpmon install its file again to retry, or lpmon uninstall " +
                      release->id);
  }
  if (patch_enabled(options.store.paths, release->name)) {
    return finish(ExitCode::ok, "already-active", release->id + " is already enabled");
  }
  fs::path module;
  try {
    module = patches.verified_module(*release);
  } catch (const store::StoreError& error) {
    return finish(error.code(), "refused", error.what());
  }
  // Synced before the load: if the load takes the machine down, the next boot knows.
  const std::string boot_id = store::current_boot_id(options.store.paths);
  store::write_boot_marker(
      patches, kernel,
      {"loading", release->id, boot_id, utc_timestamp(std::chrono::system_clock::now(), 0)});
  const StepResult applied = apply_stored(module, std::nullopt, options.store, err);
  j["apply"] = applied.report;
  if (applied.exit_code != 0) {
    // The marker stays: a load that failed is not retried at the next boot either.
    return finish(static_cast<ExitCode>(applied.exit_code), "load-failed",
                  "loading " + release->id + " failed (lpmon apply exited " +
                      std::to_string(applied.exit_code) +
                      "); it will not be tried at the next boot (lpmon install retries it)");
  }
  store::write_boot_marker(
      patches, kernel,
      {"ok", release->id, boot_id, utc_timestamp(std::chrono::system_clock::now(), 0)});
  return finish(ExitCode::ok, "loaded",
                release->id + " loaded and enabled: the patch level of " + kernel + " is active");
}

}  // namespace

Command add_boot_command(CLI::App& lpmon) {
  auto options = std::make_shared<BootOptions>();
  CLI::App* boot = lpmon.add_subcommand(
      "boot",
      "Load the installed patch level of the running kernel (lpmon-boot.service runs this early "
      "at boot). Kill switches: lpmon.disable=1 on the kernel command line, or the disable "
      "file. A release whose load did not finish at an earlier boot is not tried again (root)");
  boot->add_option(
          "--disable-file", options->disable_file,
          "Load nothing while FILE exists (default " + std::string(kDefaultDisableFile) + ")")
      ->type_name("FILE");
  rollout_command::add_duration_option(
      *boot, options->store.timeout,
      "How long the transition may take before it is reversed (default 60s)");
  add_store_options(*boot, options->store);
  boot->footer(
      "Exit codes: 0 loaded, already active, nothing installed or switched off; 1 a release "
      "skipped after an unfinished load, or a load that failed; otherwise as lpmon apply.");
  return {boot,
          [options](std::ostream& out, std::ostream& err) { return run_boot(*options, out, err); }};
}

}  // namespace lpmon::cli
