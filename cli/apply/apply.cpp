// lpmon apply: loads a livepatch module, follows its transition, runs a gate's local checks,
// and undoes the patch when the transition outruns --timeout or the gate does not pass. The
// steps are liblpmon's (lpmon/rollout); this file orders them and renders what they report.
#include "apply/apply.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <thread>

#include "apply/common.hpp"
#include "apply/progress_line.hpp"
#include "command.hpp"
#include "gate.hpp"
#include "inspect.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/gate/engine.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/kernel_log.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon/patch_control.hpp"
#include "lpmon/rollout/audit_log.hpp"
#include "lpmon/rollout/host_observation.hpp"
#include "lpmon/rollout/preflight.hpp"
#include "lpmon/rollout/rollback.hpp"
#include "lpmon/rollout/transition_follower.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using rollout::AuditLog;
using rollout::Refusal;
using rollout::Rollback;
using rollout::TransitionFollower;
using rollout::TransitionOutcome;
using namespace rollout_command;

// The kernel log from now on, or nothing (with a warning) when it cannot be read.
std::unique_ptr<KernelLog> open_kernel_log(const std::string& command, std::ostream& err) {
  try {
    return std::make_unique<KernelLog>();
  } catch (const KernelError& error) {
    err << "lpmon " << command << ": warning: " << error.what()
        << "; kernel warnings will not be seen\n";
    return nullptr;
  }
}

// Kernel log lines about `module` or livepatch, to explain a refusal.
std::vector<std::string> related_log_lines(KernelLog* log, const std::string& module) {
  std::vector<std::string> lines;
  if (!log) return lines;
  for (const KernelLogRecord& record : log->read_new()) {
    if (record.message.find(module) != std::string::npos ||
        record.message.starts_with("livepatch:") || is_kernel_problem(record)) {
      lines.push_back(record.message);
    }
  }
  return lines;
}

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

// Loads the gate file and checks it can serve apply: local checks only are run there.
std::optional<gate::GateFile> load_apply_gate(const ApplyOptions& options, std::ostream& err) {
  if (!options.gate) return std::nullopt;
  gate::GateFile file = gate::load_gate_file(*options.gate, options.args);
  const auto local = std::count_if(file.checks.begin(), file.checks.end(),
                                   [](const gate::CheckSpec& c) { return c.local() != nullptr; });
  if (local == 0) {
    throw gate::GateFileError(options.gate->string() +
                              ": no local checks: lpmon apply runs a gate's local checks on the "
                              "host; its query checks are for lpmon gate --prometheus");
  }
  if (local < static_cast<long>(file.checks.size())) {
    err << "lpmon apply: " << file.checks.size() - local
        << " query check(s) of the gate are skipped here; lpmon gate --prometheus runs them\n";
    file.checks.erase(std::remove_if(file.checks.begin(), file.checks.end(),
                                     [](const gate::CheckSpec& c) { return !c.local(); }),
                      file.checks.end());
  }
  return file;
}

// How long the transition may run: --timeout, or less when the gate's transitionFinished
// check allows less (waiting longer could not pass it).
gate::Duration transition_limit(const ApplyOptions& options,
                                const std::optional<gate::GateFile>& gate) {
  gate::Duration limit = options.timeout;
  if (gate) {
    for (const gate::CheckSpec& check : gate->checks) {
      const gate::LocalCheck* local = check.local();
      if (local && local->kind == gate::LocalCheck::Kind::transition_finished) {
        limit = std::min(limit, local->within);
      }
    }
  }
  return limit;
}

struct ApplyReport {
  std::string patch;
  bool changed = false;
  std::string result;  // applied, already-applied, reverted, rollback-incomplete, load-failed
  std::string message;
  ExitCode code = ExitCode::ok;
  std::optional<TransitionOutcome> transition;
  bool forced = false;
  std::optional<gate::GateReport> gate;
  std::optional<Rollback> rollback;
  std::vector<std::string> kernel_log;  // problems seen, or the lines explaining a refusal
  std::optional<std::uint64_t> taint_before;
  std::optional<std::uint64_t> taint_after;
  std::vector<std::string> replaced;  // patches this one replaced
};

void print_report(const ApplyReport& report, const ApplyOptions& options,
                  const TransitionFollower* follower, std::ostream& out) {
  if (options.json) {
    json j{{"command", "apply"},          {"module", options.module.string()},
           {"patch", report.patch},       {"changed", report.changed},
           {"result", report.result},     {"exit_code", to_int(report.code)},
           {"message", report.message},   {"forced", report.forced},
           {"replaced", report.replaced}, {"kernel_log", report.kernel_log}};
    if (report.transition && follower) {
      j["transition"] = transition_json(*report.transition, *follower);
    }
    if (report.gate) {
      GateRequest request;
      request.file = *options.gate;
      j["gate"] = report_json(*report.gate, request);
    }
    if (report.rollback && follower) j["rollback"] = rollback_json(*report.rollback, *follower);
    if (report.taint_before) j["taint_before"] = Taint{*report.taint_before}.letters();
    if (report.taint_after) j["taint_after"] = Taint{*report.taint_after}.letters();
    out << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    return;
  }
  out << report.patch << ": " << report.message << '\n';
  if (report.transition) {
    const TransitionOutcome& t = *report.transition;
    out << "  transition: " << (t.finished ? std::string(bpf::to_string(t.result)) : "unfinished")
        << " after " << seconds_text(t.duration) << ", " << t.rounds << " round(s)";
    if (t.notice_latency) out << ", seen " << seconds_text(*t.notice_latency) << " after the end";
    out << '\n';
    if (!t.blockers.empty()) out << "  blocked by: " << blockers_text(t.blockers) << '\n';
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
  std::optional<gate::GateFile> gate_file;
  try {
    gate_file = load_apply_gate(options, err);
  } catch (const gate::GateFileError& error) {
    err << "lpmon apply: " << error.what() << '\n';
    return to_int(ExitCode::invalid_input);
  }
  require_livepatch(options.paths);

  auto checked = rollout::preflight(options.module, options.paths);
  if (auto* refusal = std::get_if<Refusal>(&checked)) {
    err << "lpmon apply: " << refusal->message << '\n';
    return to_int(refusal->code);
  }
  const rollout::CheckedModule& file = std::get<rollout::CheckedModule>(checked);
  const ModuleInfo& module = file.info;
  ApplyReport report;
  report.patch = module.name;

  const std::vector<LivepatchPatch> before = read_patches(options.paths);
  if (const auto other = rollout::other_transition(before, module.name)) {
    err << "lpmon apply: livepatch " << *other
        << " is in transition; nothing was changed (wait for it: lpmon status)\n";
    return to_int(ExitCode::busy);
  }
  const auto same = std::find_if(before.begin(), before.end(),
                                 [&](const LivepatchPatch& p) { return p.name == module.name; });
  if (same != before.end()) {
    if (same->transition) {
      err << "lpmon apply: " << module.name
          << " is loaded and in transition; nothing was changed (lpmon status)\n";
      return to_int(ExitCode::busy);
    }
    report.result = "already-applied";
    report.message = "already applied (loaded and enabled); nothing was changed";
    print_report(report, options, nullptr, out);
    return to_int(ExitCode::ok);
  }

  if (module_loaded(options.paths, module.name) &&
      !module_is_livepatch(options.paths, module.name)) {
    err << "lpmon apply: a module named " << module.name
        << " is loaded and is not a livepatch (no K in its taint): lpmon unloads only livepatch "
           "modules; nothing was changed\n";
    return to_int(ExitCode::not_livepatch);
  }
  AuditLog audit = open_audit_log(options.audit_log, "apply", err);
  if (module_loaded(options.paths, module.name)) {
    // A livepatch module whose patch was replaced or disabled: unused, and in the way of
    // loading.
    try {
      unload_module(module.name);
      audit.record("unload-stale", {{"module", module.name}});
      err << "lpmon apply: unloaded module " << module.name
          << ", loaded but no longer an active patch, before loading the file\n";
    } catch (const KernelError& error) {
      err << "lpmon apply: " << error.what() << "; nothing was changed\n";
      return to_int(ExitCode::runtime_error);
    }
  }

  std::unique_ptr<KernelLog> log = open_kernel_log("apply", err);
  report.taint_before = read_taint(options.paths).mask;
  TransitionFollower follower(options.paths, ProgressLine(err, progress_rewrites_in_place()));
  if (!follower.fallback_reason().empty()) {
    err << "lpmon apply: warning: following the transition by polling sysfs every 100 ms, as the "
           "BPF tracer is unavailable: "
        << follower.fallback_reason() << '\n';
  }

  json load_fields{{"module", options.module.string()},
                   {"patch", module.name},
                   {"vermagic", module.vermagic.value_or("")},
                   {"srcversion", module.srcversion.value_or("")},
                   {"version", module.version.value_or("")}};
  if (module.lpmon) load_fields["cves"] = module.lpmon->cves;
  if (options.gate) load_fields["gate"] = options.gate->string();
  audit.record("load", load_fields);
  const auto since = SteadyClock::now();
  try {
    load_module(*file.file);
  } catch (const KernelError& error) {
    report.code = ExitCode::runtime_error;
    report.result = "load-failed";
    report.message = error.what() + std::string("; nothing was changed");
    report.kernel_log = related_log_lines(log.get(), module.name);
    audit.record("load-failed", {{"patch", module.name}, {"error", error.what()}});
    err << "lpmon apply: " << report.message << '\n';
    for (const std::string& line : report.kernel_log) err << "  kernel: " << line << '\n';
    if (options.json) print_report(report, options, &follower, out);
    return to_int(report.code);
  }
  report.changed = true;

  const gate::Duration limit = transition_limit(options, gate_file);
  TransitionOutcome outcome = follower.wait(module.name, true, since, since + limit);
  if (!outcome.finished && options.force) {
    rollout::add_current_blockers(options.paths, module.name, outcome);
    if (confirm_force(module.name, options.yes, err)) {
      force_transition(options.paths, module.name);
      report.forced = true;
      audit.record("force", {{"patch", module.name}});
      const auto forced_at = SteadyClock::now();
      TransitionOutcome after = follower.wait(module.name, true, since, forced_at + limit);
      after.blockers.merge(outcome.blockers);
      outcome = after;
    }
  }
  if (!outcome.finished) rollout::add_current_blockers(options.paths, module.name, outcome);
  audit.record(outcome.finished ? "transition-end" : "transition-timeout",
               {{"patch", module.name},
                {"result", bpf::to_string(outcome.result)},
                {"duration_seconds", seconds(outcome.duration)},
                {"rounds", outcome.rounds}});
  report.transition = outcome;

  std::string failure;
  if (!outcome.finished) {
    failure =
        "the transition did not finish within " + gate::format_duration(limit) +
        (outcome.blockers.empty() ? ""
                                  : "; held up by " + rollout::blockers_text(outcome.blockers)) +
        (outcome.problem.empty() ? "" : "; " + outcome.problem);
  } else if (!outcome.problem.empty()) {
    failure = outcome.problem;
  } else if (outcome.result != bpf::TransitionResult::complete &&
             outcome.result != bpf::TransitionResult::forced) {
    failure = "the kernel ended the transition as " + std::string(bpf::to_string(outcome.result));
  } else if (gate_file) {
    rollout::HostObservation host(options.paths, module.name, log.get(), report.taint_before,
                                  outcome);
    gate::SystemClock clock;
    gate::EngineOptions engine;
    report.gate = gate::run_gate(*gate_file, nullptr, &host, clock, engine,
                                 [&](const gate::CheckResult& check, const gate::Measurement& m) {
                                   err << format_measurement(check, m) << '\n';
                                 });
    for (const std::string& line : host.problems()) report.kernel_log.push_back(line);
    audit.record("gate", {{"patch", module.name},
                          {"verdict", gate::to_string(report.gate->verdict)},
                          {"message", report.gate->message}});
    if (report.gate->verdict != gate::Phase::successful) {
      failure = "the gate's verdict is " + std::string(gate::to_string(report.gate->verdict)) +
                (report.gate->message.empty() ? "" : ": " + report.gate->message);
    }
  }
  report.taint_after = read_taint(options.paths).mask;

  if (failure.empty()) {
    // An atomic replace supersedes every patch enabled before once its transition completes;
    // their sysfs directories go later, when klp's free work runs, so sysfs cannot tell yet.
    const bool replaces = module.patch.replace.value_or(false);
    for (const LivepatchPatch& patch : before) {
      if (replaces && patch.enabled) {
        report.replaced.push_back(patch.name);
      }
    }
    report.result = "applied";
    report.message = report.forced ? "applied (transition forced)" : "applied";
    audit.record("applied", {{"patch", module.name}});
    print_report(report, options, &follower, out);
    return to_int(ExitCode::ok);
  }

  err << "lpmon apply: " << module.name << ": " << failure << "; rolling back\n";
  report.rollback = rollout::roll_back(options.paths, module.name, follower, options.timeout, audit,
                                       say("lpmon: " + module.name + ": ", err));
  if (report.rollback->left.empty()) {
    report.code = ExitCode::gate_failed;
    report.result = "reverted";
    report.message = failure + "; the patch was " + (outcome.finished ? "undone" : "reversed") +
                     " and its module unloaded";
  } else {
    report.code = ExitCode::rollback_incomplete;
    report.result = "rollback-incomplete";
    report.message = failure + "; the rollback is incomplete: " + report.rollback->left;
  }
  audit.record(report.result, {{"patch", module.name}, {"message", report.message}});
  print_report(report, options, &follower, out);
  err << "lpmon apply: " << report.message << '\n';
  return to_int(report.code);
}

}  // namespace

Command add_apply_command(CLI::App& lpmon) {
  auto options = std::make_shared<ApplyOptions>();
  CLI::App* apply = lpmon.add_subcommand(
      "apply",
      "Load a livepatch module, follow its transition (BPF), run a gate's local checks, and "
      "undo the patch when the transition outruns --timeout or the gate does not pass (root)");
  apply->add_option("module", options->module, "The livepatch module file")
      ->type_name("PATCH.ko")
      ->required();
  apply->add_option("--gate", options->gate, "A gate file (docs/gate.md); its local checks run")
      ->type_name("FILE");
  apply
      ->add_option_function<std::vector<std::string>>(
          "--arg",
          [options](const std::vector<std::string>& args) {
            for (const std::string& arg : args) {
              const auto eq = arg.find('=');
              if (eq == std::string::npos || eq == 0) {
                throw CLI::ValidationError("--arg", "'" + arg + "' is not NAME=VALUE");
              }
              options->args[arg.substr(0, eq)] = arg.substr(eq + 1);
            }
          },
          "A value for an arg the gate file declares")
      ->type_name("NAME=VALUE");
  add_duration_option(*apply, options->timeout,
                      "How long the transition may take before it is reversed (default 60s)");
  apply->add_flag("--json", options->json, "Print the outcome as one JSON object");
  apply
      ->add_option("--audit-log", options->audit_log,
                   "Append a JSON line per step to FILE (default " +
                       std::string(rollout::kDefaultAuditLog) + "); syslog gets them too")
      ->type_name("FILE");
  CLI::Option* force = apply->add_flag(
      "--force", options->force,
      "When the transition outruns --timeout, force it (writes 1 to force) instead of reversing "
      "it; asks for confirmation. The modules of the patches it replaces can then never be "
      "unloaded");
  apply->add_flag("--yes", options->yes, "Confirm --force without asking")->needs(force);
  add_kernel_root_options(*apply, options->paths);
  apply->footer(
      "Exit codes: 0 applied (or already applied), 12 rolled back (the message says "
      "why), 13 rollback incomplete, 14 another transition is running; 7-11 the module "
      "file (as lpmon inspect); see lpmon --help.");
  return {apply, [options](std::ostream& out, std::ostream& err) {
            return run_apply(*options, out, err);
          }};
}

}  // namespace lpmon::cli
