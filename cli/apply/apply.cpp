// lpmon apply: its options, and the rendering (text or --json) of what liblpmon's
// rollout::apply_patch reports; the steps and their decisions are the library's.
#include "apply/apply.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "apply/common.hpp"
#include "command.hpp"
#include "gate.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/util/clock.hpp"
#include "option_values.hpp"

namespace lpmon::cli {
namespace {

using nlohmann::json;
using rollout::ApplyOutcome;
using rollout::Rollback;
using rollout::TransitionOutcome;
using namespace rollout_command;

bool confirm_force(const std::string& patch, bool yes, std::ostream& err) {
  if (yes) return true;
  if (!::isatty(STDIN_FILENO)) {
    err << "lpmon apply: not forcing: stdin is not a terminal to confirm on (add --yes)\n";
    return false;
  }
  err << "Forcing marks every task of the transition of " << patch
      << " as switched, whether or not it is safe; the modules of the patches it replaces can "
         "then never be unloaded.\n"
      << "Type 'force' to force it: ";
  err.flush();
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "force";
}

void print_json(const ApplyOutcome& report, const ApplyOptions& options, std::ostream& out) {
  json j{{"command", "apply"},          {"module", options.request.module.string()},
         {"patch", report.patch},       {"changed", report.changed},
         {"result", report.result},     {"exit_code", to_int(report.code())},
         {"message", report.message},   {"forced", report.forced},
         {"replaced", report.replaced}, {"kernel_log", report.kernel_log}};
  if (!report.recovered.empty()) j["recovered"] = report.recovered;
  if (report.transition) j["transition"] = transition_json(*report.transition, report.followed_by);
  if (report.gate) {
    GateRequest request;
    request.file = *options.request.gate;
    j["gate"] = report_json(*report.gate, request);
  }
  if (report.rollback) j["rollback"] = rollback_json(*report.rollback, report.followed_by);
  if (report.taint_before) j["taint_before"] = Taint{*report.taint_before}.letters();
  if (report.taint_after) j["taint_after"] = Taint{*report.taint_after}.letters();
  out << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
}

void print_text(const ApplyOutcome& report, std::ostream& out) {
  out << report.patch << ": " << report.message << '\n';
  if (report.transition) {
    const TransitionOutcome& t = *report.transition;
    out << "  transition: " << (t.finished ? std::string(bpf::to_string(t.result)) : "unfinished")
        << " after " << seconds_text(t.duration) << ", " << t.rounds << " round(s)";
    if (t.notice_latency) out << ", seen " << seconds_text(*t.notice_latency) << " after the end";
    out << '\n';
    if (!t.blockers.empty()) out << "  blocked by: " << rollout::blockers_text(t.blockers) << '\n';
  }
  if (!report.replaced.empty()) {
    out << "  replaced:";
    for (const std::string& name : report.replaced) out << ' ' << name;
    out << " (their modules stay loaded, unused: lpmon revert NAME unloads one)\n";
  }
  if (report.gate) out << format_report(*report.gate);
  for (const std::string& line : report.kernel_log) out << "  kernel: " << line << '\n';
  if (report.rollback) {
    const Rollback& r = *report.rollback;
    if (r.transition) {
      out << "  rollback transition: " << (r.transition->finished ? "ended" : "unfinished")
          << " after " << seconds_text(r.transition->duration) << '\n';
    }
    out << "  module " << (r.unloaded ? "unloaded" : "still loaded") << '\n';
    if (!r.left.empty()) out << "  left: " << r.left << '\n';
  }
}

int run_apply(const ApplyOptions& options, std::ostream& out, std::ostream& err) {
  rollout::Progress progress = progress_on("apply", err);
  progress.measurement = [&err](const gate::CheckResult& check, const gate::Measurement& m) {
    err << format_measurement(check, m) << '\n';
  };
  progress.confirm_force = [&](const std::string& patch) {
    return confirm_force(patch, options.yes, err);
  };
  const ApplyOutcome report = rollout::apply_patch(options.request, progress);
  const int code = to_int(report.code());
  if (report.result.empty()) {  // refused: nothing was changed
    err << "lpmon apply: " << report.error->message << '\n';
    return code;
  }
  if (report.result == "load-failed") {
    err << "lpmon apply: " << report.message << '\n';
    for (const std::string& line : report.kernel_log) err << "  kernel: " << line << '\n';
    if (options.json) print_json(report, options, out);
    return code;
  }
  if (options.json) {
    print_json(report, options, out);
  } else {
    print_text(report, out);
  }
  if (report.error) err << "lpmon apply: " << report.message << '\n';
  return code;
}

}  // namespace

Command add_apply_command(CLI::App& lpmon) {
  auto options = std::make_shared<ApplyOptions>();
  CLI::App* apply = lpmon.add_subcommand(
      "apply",
      "Load a livepatch module, follow its transition (BPF), run a gate's local checks, and "
      "undo the patch when the transition outruns --timeout or the gate does not pass (root)");
  apply->add_option("module", options->request.module, "The livepatch module file")
      ->type_name("PATCH.ko")
      ->required();
  apply
      ->add_option("--gate", options->request.gate,
                   "A gate file (docs/gate.md); its local checks run")
      ->type_name("FILE");
  apply
      ->add_option_function<std::vector<std::string>>(
          "--arg",
          [options](const std::vector<std::string>& args) {
            for (const std::string& arg : args) {
              if (const auto error = add_gate_arg(options->request.args, arg)) {
                throw CLI::ValidationError("--arg", *error);
              }
            }
          },
          "A value for an arg the gate file declares")
      ->type_name("NAME=VALUE");
  add_duration_option(*apply, options->request.timeout,
                      "How long the transition may take before it is reversed (default 60s)");
  apply->add_flag("--json", options->json, "Print the outcome as one JSON object");
  apply
      ->add_option("--audit-log", options->request.audit_log,
                   "Append a JSON line per step to FILE (default " +
                       std::string(rollout::kDefaultAuditLog) + "); syslog gets them too")
      ->type_name("FILE");
  CLI::Option* force = apply->add_flag(
      "--force", options->request.force,
      "When the transition outruns --timeout, force it (writes 1 to force) instead of reversing "
      "it; asks for confirmation. The modules of the patches it replaces can then never be "
      "unloaded");
  apply->add_flag("--yes", options->yes, "Confirm --force without asking")->needs(force);
  add_kernel_root_options(*apply, options->request.paths);
  add_transaction_options(*apply, options->request.state, options->request.wait,
                          options->request.transaction);
  apply->footer(
      "Exit codes: 0 applied (or already applied), 12 rolled back (the message says "
      "why), 13 rollback incomplete, 14 another transition is running, 15 another lpmon run "
      "holds the lock (--no-wait), 16 interrupted by a signal (the patch was rolled back), 17 "
      "another build of the patch is loaded; 7-11 the module file (as lpmon inspect); see "
      "lpmon --help.");
  return {apply, [options](std::ostream& out, std::ostream& err) {
            return run_apply(*options, out, err);
          }};
}

}  // namespace lpmon::cli
