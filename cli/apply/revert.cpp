// lpmon revert: its options, and the rendering of what liblpmon's rollout::revert_patch
// reports (disable, follow the unpatching transition, unload).
#include <CLI/CLI.hpp>
#include <memory>

#include "apply/apply.hpp"
#include "apply/common.hpp"
#include "command.hpp"
#include "lpmon/exit_codes.hpp"

namespace lpmon::cli {
namespace {

using nlohmann::json;
using namespace rollout_command;

int run_revert(const RevertOptions& options, std::ostream& out, std::ostream& err) {
  const rollout::RevertOutcome outcome =
      rollout::revert_patch(options.request, progress_on("revert", err));
  const int code = to_int(outcome.code());
  if (outcome.result.empty()) {  // refused: nothing was changed
    err << "lpmon revert: " << outcome.error->message << '\n';
    return code;
  }
  if (options.json) {
    json j{{"command", "revert"}, {"patch", outcome.patch}};
    if (outcome.rollback) j["rollback"] = rollback_json(*outcome.rollback, outcome.followed_by);
    j["changed"] = outcome.changed;
    j["result"] = outcome.result;
    j["exit_code"] = code;
    j["message"] = outcome.message;
    if (!outcome.recovered.empty()) j["recovered"] = outcome.recovered;
    out << j.dump() << '\n';
  } else {
    out << outcome.patch << ": " << outcome.message << '\n';
  }
  if (outcome.error) err << "lpmon revert: " << outcome.message << '\n';
  return code;
}

}  // namespace

Command add_revert_command(CLI::App& lpmon) {
  auto options = std::make_shared<RevertOptions>();
  CLI::App* revert = lpmon.add_subcommand(
      "revert", "Disable a livepatch, follow the unpatching transition, unload its module (root)");
  revert
      ->add_option("patch", options->request.patch,
                   "The patch name (lpmon status) or its module file")
      ->type_name("PATCH")
      ->required();
  add_duration_option(*revert, options->request.timeout,
                      "How long to follow the unpatching transition (default 60s); it is never "
                      "forced, and the kernel keeps trying after that");
  revert->add_flag("--json", options->json, "Print the outcome as one JSON object");
  revert
      ->add_option("--audit-log", options->request.audit_log,
                   "Append a JSON line per step to FILE (default " +
                       std::string(rollout::kDefaultAuditLog) + ")")
      ->type_name("FILE");
  add_kernel_root_options(*revert, options->request.paths);
  add_transaction_options(*revert, options->request.state, options->request.wait,
                          options->request.transaction);
  revert->footer(
      "Exit codes: 0 reverted (or not loaded), 10 the module is not a livepatch, 13 the "
      "transition or the unload did not finish, 14 another transition is running, 15 another "
      "lpmon run holds the lock (--no-wait); see lpmon --help.");
  return {revert, [options](std::ostream& out, std::ostream& err) {
            return run_revert(*options, out, err);
          }};
}

}  // namespace lpmon::cli
