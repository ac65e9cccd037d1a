#include "store/store_common.hpp"

#include <sstream>
#include <vector>

#include "command.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/rollout/preflight.hpp"
#include "lpmon_cli.hpp"

namespace lpmon::cli::store_command {

namespace fs = std::filesystem;
using nlohmann::json;

void add_store_options(CLI::App& command, StoreOptions& options) {
  command.add_flag("--json", options.json, "Print the outcome as one JSON object");
  command
      .add_option("--store-root", options.store_root,
                  "The patch store (default " + std::string(store::kDefaultStoreRoot) + ")")
      ->type_name("DIR");
  command
      .add_option("--run-dir", options.run_dir,
                  "Where cves.json is written (default " + std::string(store::kDefaultRunDir) + ")")
      ->type_name("DIR");
  command
      .add_option("--audit-log", options.audit_log,
                  "Append a JSON line per step to FILE (default " +
                      std::string(rollout::kDefaultAuditLog) + ")")
      ->type_name("FILE");
  add_kernel_root_options(command, options.paths);
}

namespace {

// Until liblpmon's rollout offers apply and revert as functions, the store runs lpmon's own
// apply and revert commands in-process: the same flow, its progress on `err`, its JSON
// captured.
StepResult run_step(std::vector<std::string> args, const StoreOptions& options, std::ostream& err) {
  args.insert(args.begin(), "lpmon");
  args.insert(args.end(), {"--json", "--audit-log", options.audit_log.string(), "--timeout",
                           gate::format_duration(options.timeout)});
  if (options.paths.sysfs != KernelPaths{}.sysfs) {
    args.insert(args.end(), {"--sysfs-root", options.paths.sysfs.string()});
  }
  if (options.paths.procfs != KernelPaths{}.procfs) {
    args.insert(args.end(), {"--procfs-root", options.paths.procfs.string()});
  }
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out;
  StepResult result;
  result.exit_code = run(static_cast<int>(argv.size()), argv.data(), out, err);
  result.text = out.str();
  result.report = json::parse(result.text, nullptr, false);
  if (result.report.is_discarded()) result.report = nullptr;
  return result;
}

}  // namespace

StepResult apply_stored(const fs::path& module, const std::optional<fs::path>& gate,
                        const StoreOptions& options, std::ostream& err) {
  std::vector<std::string> args{"apply", module.string()};
  if (gate) args.insert(args.end(), {"--gate", gate->string()});
  return run_step(args, options, err);
}

StepResult revert_loaded(const std::string& patch, const StoreOptions& options, std::ostream& err) {
  return run_step({"revert", patch}, options, err);
}

void refresh_cve_file(const store::PatchStore& store, const StoreOptions& options,
                      const std::string& command, std::ostream& err) {
  try {
    store::write_cve_file(store::effective_patch_level(store, options.paths), options.run_dir);
  } catch (const std::exception& error) {
    err << "lpmon " << command << ": warning: " << (options.run_dir / "cves.json").string()
        << " not updated: " << error.what() << '\n';
  }
}

bool patch_enabled(const KernelPaths& paths, const std::string& name) {
  if (!livepatch_supported(paths)) return false;
  for (const LivepatchPatch& patch : read_patches(paths)) {
    if (patch.name == name) return patch.enabled;
  }
  return false;
}

json release_json(const store::StoredRelease& r) {
  return {{"id", r.id},         {"name", r.name},       {"kernel", r.kernel},
          {"sha256", r.sha256}, {"version", r.version}, {"srcversion", r.srcversion},
          {"cves", r.cves},     {"replace", r.replace}, {"installed_at", r.installed_at}};
}

int store_error_code(const std::exception& error) {
  if (const auto* e = dynamic_cast<const store::StoreError*>(&error)) return to_int(e->code());
  if (const auto* e = dynamic_cast<const ModuleFileError*>(&error)) {
    return to_int(rollout::module_file_exit_code(e->problem()));
  }
  if (dynamic_cast<const LivepatchUnsupportedError*>(&error)) return to_int(ExitCode::no_livepatch);
  return to_int(ExitCode::runtime_error);
}

}  // namespace lpmon::cli::store_command
