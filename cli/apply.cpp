// lpmon apply and lpmon revert: the commands that change the kernel's patches. Both follow the
// transition they start through BPF events, and both record each step in the audit log.
#include "apply.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <thread>

#include "audit_log.hpp"
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
#include "lpmon/util/text.hpp"
#include "transition_follower.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// A refusal before anything was changed: the message is the one line for stderr.
struct Refusal {
  ExitCode code;
  std::string message;
};

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

std::string seconds_text(std::chrono::nanoseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", seconds(d));
  return text;
}

json transition_json(const TransitionOutcome& outcome, const TransitionFollower& follower) {
  json blockers = json::array();
  for (const auto& [pid, task] : outcome.blockers) {
    json entry{{"pid", pid}, {"comm", text::valid_utf8(task.comm)}, {"reason", task.reason}};
    if (!task.function.empty()) entry["function"] = task.function;
    blockers.push_back(entry);
  }
  json j{{"followed_by", follower.method()},
         {"finished", outcome.finished},
         {"result", bpf::to_string(outcome.result)},
         {"duration_seconds", seconds(outcome.duration)},
         {"rounds", outcome.rounds},
         {"blocking_tasks", blockers}};
  if (outcome.notice_latency) j["notice_latency_seconds"] = seconds(*outcome.notice_latency);
  if (outcome.kernel_end) j["kernel_end_monotonic_ns"] = outcome.kernel_end->count();
  return j;
}

std::string blockers_text(const std::map<pid_t, BlockerSeen>& blockers) {
  std::string text;
  std::size_t shown = 0;
  for (const auto& [pid, task] : blockers) {
    if (shown++ == 5) {
      text += ", ...";
      break;
    }
    text += (text.empty() ? "" : ", ") + std::to_string(pid) + " (" + text::printable(task.comm) +
            (task.function.empty() ? "" : " in " + task.function) + ")";
  }
  return text;
}

// The tasks still short of the target, by procfs, with what BPF saw of them.
void add_current_blockers(const KernelPaths& paths, const std::string& patch,
                          TransitionOutcome& outcome) {
  try {
    const std::vector<LivepatchPatch> patches = read_patches(paths);
    const auto progress = transition_progress(paths, patches);
    if (!progress || progress->patch != patch) return;
    const auto live = std::find_if(patches.begin(), patches.end(),
                                   [&](const LivepatchPatch& p) { return p.name == patch; });
    if (live == patches.end()) return;
    // liblpmon's procfs reader, as lpmon status shows these tasks.
    for (const PendingTask& pending :
         describe_pending_tasks(paths, *live, progress->tasks.not_at_target)) {
      BlockerSeen& task = outcome.blockers[pending.pid];
      task.pid = pending.pid;
      if (task.comm.empty()) task.comm = pending.comm;
      if (task.reason.empty()) task.reason = pending.reason;
      if (task.function.empty()) task.function = pending.function;
    }
  } catch (const std::exception&) {
    // The blockers seen by BPF are still reported.
  }
}

// Unloads a module whose patch has just been freed. klp drops its module reference in a work
// item after the transition ends, so "in use" is retried for a short while.
std::optional<std::string> unload_when_released(const KernelPaths& paths,
                                                const std::string& module) {
  const auto give_up = SteadyClock::now() + std::chrono::seconds(5);
  for (;;) {
    try {
      unload_module(module);
      return std::nullopt;
    } catch (const KernelError& error) {
      if (!module_loaded(paths, module)) return std::nullopt;
      if (SteadyClock::now() >= give_up) return std::string(error.what());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// What the host shows of the patch being applied, for the gate's local checks.
class HostObservation final : public gate::LocalSource {
 public:
  HostObservation(const KernelPaths& paths, std::string patch, KernelLog* log,
                  std::optional<std::uint64_t> taint_before, const TransitionOutcome& outcome)
      : paths_(paths),
        patch_(std::move(patch)),
        log_(log),
        taint_before_(taint_before),
        outcome_(outcome) {}

  gate::LocalObservation observe() override {
    gate::LocalObservation seen;
    seen.transition_duration = std::chrono::duration_cast<gate::Duration>(outcome_.duration);
    seen.transition_finished = outcome_.finished;
    std::vector<gate::BlockingTask> blocking;
    if (!outcome_.finished) {
      for (const auto& [pid, task] : outcome_.blockers) blocking.push_back({pid, task.comm});
    }
    seen.blocking_tasks = blocking;
    seen.taint_before = taint_before_;
    seen.taint_after = read_taint(paths_).mask;
    if (log_) {
      for (KernelLogRecord& record : log_->read_new()) {
        if (is_kernel_problem(record)) problems_.push_back(record.message);
      }
      seen.kernel_warnings = static_cast<unsigned>(problems_.size());
    }
    // The overhead needs calls timed before and after the patch: lpmon verify measures it.
    return seen;
  }

  const std::vector<std::string>& problems() const { return problems_; }

 private:
  KernelPaths paths_;
  std::string patch_;
  KernelLog* log_;
  std::optional<std::uint64_t> taint_before_;
  const TransitionOutcome& outcome_;
  std::vector<std::string> problems_;
};

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

// A progress line is redrawn in place on a terminal that can; logs and serial consoles get
// a line per change instead.
bool progress_rewrites_in_place() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) && term && *term && std::string_view(term) != "dumb";
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

// Reverses or undoes `patch` (writes 0 to enabled), follows that transition and unloads the
// module. Returns what happened, for the report; `left` says what could not be undone.
struct Rollback {
  bool started = false;
  std::optional<TransitionOutcome> transition;
  bool unloaded = false;
  std::string left;  // empty when the host is back as it was
};

Rollback roll_back(const KernelPaths& paths, const std::string& patch, TransitionFollower& follower,
                   gate::Duration timeout, AuditLog& audit, std::ostream& err) {
  Rollback rollback;
  const auto since = SteadyClock::now();
  try {
    disable_patch(paths, patch);
    rollback.started = true;
    audit.record("disable", {{"patch", patch}});
  } catch (const KernelError& error) {
    // The patch may have gone on its own (replaced); only a live patch is a problem.
    if (fs::exists(patch_dir(paths, patch))) {
      rollback.left = error.what();
      return rollback;
    }
  }
  if (rollback.started) {
    err << "lpmon: " << patch << ": undoing the patch\n";
    TransitionOutcome outcome = follower.wait(patch, since, since + timeout);
    if (!outcome.finished) add_current_blockers(paths, patch, outcome);
    audit.record(outcome.finished ? "rollback-transition-end" : "rollback-transition-timeout",
                 {{"patch", patch},
                  {"duration_seconds", seconds(outcome.duration)},
                  {"rounds", outcome.rounds}});
    rollback.transition = outcome;
    if (!outcome.finished) {
      rollback.left = "the transition undoing " + patch + " is still running after " +
                      seconds_text(outcome.duration) + ", held up by " +
                      blockers_text(outcome.blockers) +
                      "; the kernel keeps retrying, and the module stays loaded (lpmon status "
                      "shows it; lpmon revert " +
                      patch + " finishes the job)";
      return rollback;
    }
  }
  if (auto problem = unload_when_released(paths, patch)) {
    rollback.left = *problem;
    return rollback;
  }
  rollback.unloaded = true;
  audit.record("unload", {{"module", patch}});
  return rollback;
}

json rollback_json(const Rollback& rollback, const TransitionFollower& follower) {
  json j{{"started", rollback.started}, {"unloaded", rollback.unloaded}};
  if (rollback.transition) j["transition"] = transition_json(*rollback.transition, follower);
  if (!rollback.left.empty()) j["left"] = rollback.left;
  return j;
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

std::variant<ModuleInfo, Refusal> preflight_module(const ApplyOptions& options) {
  ModuleInfo module;
  try {
    ModuleInspector inspector(InspectOptions{.kernel_btf = std::nullopt, .paths = options.paths});
    module = inspector.inspect(options.module);
  } catch (const ModuleFileError& error) {
    return Refusal{module_file_exit_code(error.problem()), error.what()};
  }
  InspectReport report{module, kernel_release(options.paths), {}};
  report.kernel = check_vermagic(module, report.kernel_release);
  if (const ExitCode code = inspect_exit_code(report); code != ExitCode::ok) {
    return Refusal{code, inspect_problem(report)};
  }
  for (const std::string& dependency : module.depends) {
    if (!module_loaded(options.paths, dependency)) {
      return Refusal{ExitCode::runtime_error, options.module.string() + " depends on module " +
                                                  dependency + ", which is not loaded"};
    }
  }
  return module;
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

  auto checked = preflight_module(options);
  if (auto* refusal = std::get_if<Refusal>(&checked)) {
    err << "lpmon apply: " << refusal->message << '\n';
    return to_int(refusal->code);
  }
  const ModuleInfo& module = std::get<ModuleInfo>(checked);
  ApplyReport report;
  report.patch = module.name;

  const std::vector<LivepatchPatch> before = read_patches(options.paths);
  for (const LivepatchPatch& patch : before) {
    if (patch.transition && patch.name != module.name) {
      err << "lpmon apply: livepatch " << patch.name
          << " is in transition; nothing was changed (wait for it: lpmon status)\n";
      return to_int(ExitCode::busy);
    }
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

  AuditLog audit(options.audit_log, "apply", err);
  if (module_loaded(options.paths, module.name)) {
    // A module whose patch was replaced or disabled: unused, and in the way of loading.
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
  TransitionFollower follower(options.paths, err, progress_rewrites_in_place());
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
    load_module(options.module);
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
  TransitionOutcome outcome = follower.wait(module.name, since, since + limit);
  if (!outcome.finished && options.force) {
    add_current_blockers(options.paths, module.name, outcome);
    if (confirm_force(module.name, options.yes, err)) {
      force_transition(options.paths, module.name);
      report.forced = true;
      audit.record("force", {{"patch", module.name}});
      const auto forced_at = SteadyClock::now();
      TransitionOutcome after = follower.wait(module.name, since, forced_at + limit);
      after.blockers.merge(outcome.blockers);
      outcome = after;
    }
  }
  if (!outcome.finished) add_current_blockers(options.paths, module.name, outcome);
  audit.record(outcome.finished ? "transition-end" : "transition-timeout",
               {{"patch", module.name},
                {"result", bpf::to_string(outcome.result)},
                {"duration_seconds", seconds(outcome.duration)},
                {"rounds", outcome.rounds}});
  report.transition = outcome;

  std::string failure;
  if (!outcome.finished) {
    failure = "the transition did not finish within " + gate::format_duration(limit) +
              (outcome.blockers.empty() ? "" : "; held up by " + blockers_text(outcome.blockers));
  } else if (outcome.result != bpf::TransitionResult::complete &&
             outcome.result != bpf::TransitionResult::forced) {
    failure = "the kernel ended the transition as " + std::string(bpf::to_string(outcome.result));
  } else if (gate_file) {
    HostObservation host(options.paths, module.name, log.get(), report.taint_before, outcome);
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
  report.rollback = roll_back(options.paths, module.name, follower, options.timeout, audit, err);
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

// The patch a revert argument names: a module file's name, or a patch name as is.
std::variant<std::string, Refusal> revert_target(const RevertOptions& options) {
  const std::string& arg = options.patch;
  if (arg.ends_with(".ko") || arg.find('/') != std::string::npos) {
    try {
      ModuleInspector inspector(InspectOptions{.kernel_btf = std::nullopt, .paths = options.paths});
      return inspector.inspect(arg).name;
    } catch (const ModuleFileError& error) {
      return Refusal{module_file_exit_code(error.problem()), error.what()};
    }
  }
  static const std::regex kModuleName("[A-Za-z0-9_-]+");
  if (!std::regex_match(arg, kModuleName)) {
    return Refusal{ExitCode::invalid_input,
                   "'" + arg + "' is neither a patch name nor a module file (.ko)"};
  }
  std::string name = arg;
  std::replace(name.begin(), name.end(), '-', '_');  // as the kernel names modules
  return name;
}

int run_revert(const RevertOptions& options, std::ostream& out, std::ostream& err) {
  auto target = revert_target(options);
  if (auto* refusal = std::get_if<Refusal>(&target)) {
    err << "lpmon revert: " << refusal->message << '\n';
    return to_int(refusal->code);
  }
  const std::string patch = std::get<std::string>(target);
  require_livepatch(options.paths);

  const std::vector<LivepatchPatch> patches = read_patches(options.paths);
  for (const LivepatchPatch& other : patches) {
    if (other.transition && other.name != patch) {
      err << "lpmon revert: livepatch " << other.name
          << " is in transition; nothing was changed (wait for it: lpmon status)\n";
      return to_int(ExitCode::busy);
    }
  }
  const bool active = std::any_of(patches.begin(), patches.end(),
                                  [&](const LivepatchPatch& p) { return p.name == patch; });
  const bool loaded = module_loaded(options.paths, patch);

  json j{{"command", "revert"}, {"patch", patch}};
  auto finish = [&](ExitCode code, bool changed, const std::string& result,
                    const std::string& message) {
    j["changed"] = changed;
    j["result"] = result;
    j["exit_code"] = to_int(code);
    j["message"] = message;
    if (options.json) {
      out << j.dump() << '\n';
    } else {
      out << patch << ": " << message << '\n';
    }
    if (code != ExitCode::ok) err << "lpmon revert: " << message << '\n';
    return to_int(code);
  };
  if (!active && !loaded)
    return finish(ExitCode::ok, false, "not-loaded", "not loaded; nothing to do");

  AuditLog audit(options.audit_log, "revert", err);
  audit.record("revert", {{"patch", patch}, {"active", active}});
  if (!active) {
    if (auto problem = unload_when_released(options.paths, patch)) {
      return finish(ExitCode::rollback_incomplete, false, "rollback-incomplete", *problem);
    }
    audit.record("unload", {{"module", patch}});
    return finish(ExitCode::ok, true, "unloaded",
                  "its patch was no longer active (replaced or disabled); module unloaded");
  }

  TransitionFollower follower(options.paths, err, progress_rewrites_in_place());
  if (!follower.fallback_reason().empty()) {
    err << "lpmon revert: warning: following the transition by polling sysfs every 100 ms: "
        << follower.fallback_reason() << '\n';
  }
  const Rollback rollback = roll_back(options.paths, patch, follower, options.timeout, audit, err);
  j["rollback"] = rollback_json(rollback, follower);
  if (!rollback.left.empty()) {
    return finish(ExitCode::rollback_incomplete, rollback.started, "rollback-incomplete",
                  rollback.left);
  }
  std::string message = "reverted and unloaded";
  if (rollback.transition) {
    message += " (transition " + seconds_text(rollback.transition->duration) + ", " +
               std::to_string(rollback.transition->rounds) + " round(s))";
  }
  return finish(ExitCode::ok, true, "reverted", message);
}

void add_duration_option(CLI::App& command, gate::Duration& value, const std::string& help) {
  command
      .add_option_function<std::string>(
          "--timeout",
          [&value](const std::string& text) {
            const std::optional<gate::Duration> parsed = gate::parse_duration(text);
            if (!parsed || parsed->count() <= 0) {
              throw CLI::ValidationError("--timeout", "'" + text +
                                                          "' is not a positive duration like 30s "
                                                          "or 2m");
            }
            value = *parsed;
          },
          help)
      ->type_name("DURATION");
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
                   "Append a JSON line per step to FILE (default " + std::string(kDefaultAuditLog) +
                       "); syslog gets them too")
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

Command add_revert_command(CLI::App& lpmon) {
  auto options = std::make_shared<RevertOptions>();
  CLI::App* revert = lpmon.add_subcommand(
      "revert", "Disable a livepatch, follow the unpatching transition, unload its module (root)");
  revert->add_option("patch", options->patch, "The patch name (lpmon status) or its module file")
      ->type_name("PATCH")
      ->required();
  add_duration_option(*revert, options->timeout,
                      "How long to follow the unpatching transition (default 60s); it is never "
                      "forced, and the kernel keeps trying after that");
  revert->add_flag("--json", options->json, "Print the outcome as one JSON object");
  revert
      ->add_option(
          "--audit-log", options->audit_log,
          "Append a JSON line per step to FILE (default " + std::string(kDefaultAuditLog) + ")")
      ->type_name("FILE");
  add_kernel_root_options(*revert, options->paths);
  revert->footer(
      "Exit codes: 0 reverted (or not loaded), 13 the transition or the unload did not "
      "finish, 14 another transition is running; see lpmon --help.");
  return {revert, [options](std::ostream& out, std::ostream& err) {
            return run_revert(*options, out, err);
          }};
}

}  // namespace lpmon::cli
