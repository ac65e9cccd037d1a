#include "store/store_common.hpp"

#include <sstream>
#include <vector>

#include "apply/common.hpp"
#include "command.hpp"
#include "gate.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/rollout/apply.hpp"
#include "lpmon/rollout/preflight.hpp"
#include "lpmon/rollout/revert.hpp"

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

// The part of apply's or revert's outcome the store's commands report.
template <typename Outcome>
StepResult step_result(const Outcome& outcome, const std::string& command, std::ostream& err) {
  StepResult result;
  result.exit_code = to_int(outcome.code());
  if (outcome.result.empty()) {  // refused: nothing was changed
    err << "lpmon " << command << ": " << outcome.error->message << '\n';
    result.report = {{"result", "refused"}, {"message", outcome.error->message}};
  } else {
    if (outcome.error) err << "lpmon " << command << ": " << outcome.message << '\n';
    result.report = {{"patch", outcome.patch},
                     {"result", outcome.result},
                     {"changed", outcome.changed},
                     {"message", outcome.message}};
    if (outcome.rollback) {
      result.report["rollback"] =
          rollout_command::rollback_json(*outcome.rollback, outcome.followed_by);
    }
  }
  result.report["exit_code"] = result.exit_code;
  result.text = result.report.value("message", "");
  return result;
}

}  // namespace

StepResult apply_stored(const fs::path& module, const std::optional<fs::path>& gate,
                        const StoreOptions& options, std::ostream& err) {
  rollout::ApplyRequest request;
  request.module = module;
  request.gate = gate;
  request.timeout = options.timeout;
  request.audit_log = options.audit_log;
  request.paths = options.paths;
  rollout::Progress progress = rollout_command::progress_on("apply", err);
  progress.measurement = [&err](const gate::CheckResult& check, const gate::Measurement& m) {
    err << format_measurement(check, m) << '\n';
  };
  const rollout::ApplyOutcome outcome = rollout::apply_patch(request, progress);
  StepResult result = step_result(outcome, "apply", err);
  if (outcome.transition) {
    result.report["transition"] =
        rollout_command::transition_json(*outcome.transition, outcome.followed_by);
  }
  for (const std::string& line : outcome.kernel_log) err << "  kernel: " << line << '\n';
  return result;
}

StepResult revert_loaded(const std::string& patch, const StoreOptions& options, std::ostream& err) {
  rollout::RevertRequest request;
  request.patch = patch;
  request.timeout = options.timeout;
  request.audit_log = options.audit_log;
  request.paths = options.paths;
  return step_result(rollout::revert_patch(request, rollout_command::progress_on("revert", err)),
                     "revert", err);
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
