// Applying a patch: the order of the steps (preflight, load, follow, gate, roll back) and what
// each decides. It prints nothing: notes go to the Progress handlers, the rest to the outcome.
#include "lpmon/rollout/apply.hpp"

#include <algorithm>
#include <memory>

#include "lpmon/errors.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/kernel_log.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/patch_control.hpp"
#include "lpmon/rollout/host_observation.hpp"
#include "lpmon/rollout/preflight.hpp"
#include "lpmon/util/clock.hpp"
#include "run.hpp"

namespace lpmon::rollout {
namespace {

using SteadyClock = std::chrono::steady_clock;
using nlohmann::json;

void tell(const std::function<void(const std::string&)>& handler, const std::string& line) {
  if (handler) handler(line);
}

// The gate file, checked to serve apply: only its local checks are run here.
std::variant<std::shared_ptr<const gate::GateFile>, Error> load_apply_gate(
    const ApplyRequest& request, const Progress& progress) {
  if (!request.gate) return std::shared_ptr<const gate::GateFile>();
  auto file = std::make_shared<gate::GateFile>();
  try {
    *file = gate::load_gate_file(*request.gate, request.args);
  } catch (const gate::GateFileError& error) {
    return Error{ExitCode::invalid_input, error.what()};
  }
  const auto local = std::count_if(file->checks.begin(), file->checks.end(),
                                   [](const gate::CheckSpec& c) { return c.local() != nullptr; });
  if (local == 0) {
    return Error{ExitCode::invalid_input,
                 request.gate->string() +
                     ": no local checks: lpmon apply runs a gate's local checks on the host; its "
                     "query checks are for lpmon gate --prometheus"};
  }
  if (local < static_cast<long>(file->checks.size())) {
    tell(progress.note, std::to_string(file->checks.size() - local) +
                            " query check(s) of the gate are skipped here; lpmon gate "
                            "--prometheus runs them");
    file->checks.erase(std::remove_if(file->checks.begin(), file->checks.end(),
                                      [](const gate::CheckSpec& c) { return !c.local(); }),
                       file->checks.end());
  }
  return file;
}

// How long the transition may run: the timeout, or less when the gate's transitionFinished
// check allows less (waiting longer could not pass it).
gate::Duration transition_limit(const ApplyRequest& request, const gate::GateFile* gate) {
  gate::Duration limit = request.timeout;
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

// The kernel log from now on, or nothing (with a warning) when it cannot be read.
std::unique_ptr<KernelLog> open_kernel_log(const Progress& progress) {
  try {
    return std::make_unique<KernelLog>();
  } catch (const KernelError& error) {
    tell(progress.warning, error.what() + std::string("; kernel warnings will not be seen"));
    return nullptr;
  }
}

// Kernel log lines about `module` or livepatch, to explain a failure.
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

AuditLog open_audit(const ApplyRequest& request, const Progress& progress) {
  AuditLog audit(request.audit_log, "apply");
  if (!audit.warning().empty()) tell(progress.warning, audit.warning());
  return audit;
}

// What stands in the way before anything is changed; nullopt when the patch can be loaded.
// An applied patch of the same name ends the run as already applied.
std::optional<Error> check_host(const std::vector<LivepatchPatch>& before, const ModuleInfo& module,
                                const KernelPaths& paths, ApplyOutcome& outcome) {
  if (const auto other = other_transition(before, module.name)) {
    return Error{ExitCode::busy, "livepatch " + *other +
                                     " is in transition; nothing was changed (wait for it: "
                                     "lpmon status)"};
  }
  const auto same = std::find_if(before.begin(), before.end(),
                                 [&](const LivepatchPatch& p) { return p.name == module.name; });
  if (same != before.end()) {
    if (same->transition) {
      return Error{
          ExitCode::busy,
          module.name + " is loaded and in transition; nothing was changed (lpmon status)"};
    }
    // The same name is not the same patch: only the same build is already applied.
    const std::optional<std::string> loaded = module_srcversion(paths, module.name);
    if (loaded && module.srcversion && *loaded != *module.srcversion) {
      return Error{ExitCode::other_build,
                   module.name + " is applied, but from another build (srcversion " + *loaded +
                       " is loaded, " + module.file + " is " + *module.srcversion +
                       "); nothing was changed (lpmon revert " + module.name +
                       " first, or build the new one as an atomic replace under another name)"};
    }
    outcome.result = "already-applied";
    outcome.message = loaded && module.srcversion
                          ? "already applied (this build, srcversion " + *loaded +
                                ", is loaded and enabled); nothing was changed"
                          : "already applied (loaded and enabled; without a srcversion the "
                            "builds cannot be told apart); nothing was changed";
    return std::nullopt;
  }
  if (module_loaded(paths, module.name) && !module_is_livepatch(paths, module.name)) {
    return Error{ExitCode::not_livepatch,
                 "a module named " + module.name +
                     " is loaded and is not a livepatch (no K in its taint): lpmon unloads only "
                     "livepatch modules; nothing was changed"};
  }
  return std::nullopt;
}

// The gate's clock, whose waits end with GateInterrupted once a signal asked the run to end.
struct GateInterrupted {};
class InterruptibleClock final : public gate::Clock {
 public:
  time_point now() override { return clock_.now(); }
  std::chrono::system_clock::time_point wall_now() override { return clock_.wall_now(); }
  void sleep_until(time_point when) override {
    while (now() < when) {
      if (detail::Run::interrupted()) throw GateInterrupted{};
      clock_.sleep_until(std::min(when, now() + std::chrono::milliseconds(100)));
    }
    if (detail::Run::interrupted()) throw GateInterrupted{};
  }

 private:
  gate::SystemClock clock_;
};

std::string interruption() {
  return "interrupted by " + SignalGuard::name(detail::Run::interrupted());
}

// Why the applied patch must be undone, after its transition (and gate); empty when it stays.
std::string judge(const ApplyRequest& request, const gate::GateFile* gate_file,
                  gate::Duration limit, KernelLog* log, const Progress& progress, AuditLog& audit,
                  ApplyOutcome& outcome) {
  const TransitionOutcome& t = *outcome.transition;
  if (detail::Run::interrupted()) return interruption();
  if (!t.finished) {
    return "the transition did not finish within " + gate::format_duration(limit) +
           (t.blockers.empty() ? "" : "; held up by " + blockers_text(t.blockers)) +
           (t.problem.empty() ? "" : "; " + t.problem);
  }
  if (!t.problem.empty()) return t.problem;
  if (t.result != bpf::TransitionResult::complete && t.result != bpf::TransitionResult::forced) {
    return "the kernel ended the transition as " + std::string(bpf::to_string(t.result));
  }
  if (!gate_file) return "";
  HostObservation host(request.paths, outcome.patch, log, outcome.taint_before, t);
  InterruptibleClock clock;
  gate::EngineOptions engine;
  try {
    outcome.gate = gate::run_gate(*gate_file, nullptr, &host, clock, engine, progress.measurement);
  } catch (const GateInterrupted&) {
    audit.record("gate", {{"patch", outcome.patch}, {"verdict", "interrupted"}});
    return interruption() + " during the gate";
  }
  for (const std::string& line : host.problems()) outcome.kernel_log.push_back(line);
  audit.record("gate", {{"patch", outcome.patch},
                        {"verdict", gate::to_string(outcome.gate->verdict)},
                        {"message", outcome.gate->message}});
  if (outcome.gate->verdict == gate::Phase::successful) return "";
  return "the gate's verdict is " + std::string(gate::to_string(outcome.gate->verdict)) +
         (outcome.gate->message.empty() ? "" : ": " + outcome.gate->message);
}

// Follows the transition the load started, forcing it when asked and confirmed.
void follow(const ApplyRequest& request, TransitionFollower& follower, gate::Duration limit,
            SteadyClock::time_point since, const Progress& progress, AuditLog& audit,
            detail::Run& run, ApplyOutcome& outcome) {
  const std::string& patch = outcome.patch;
  TransitionOutcome t = follower.wait(patch, true, since, since + limit);
  if (!t.finished && request.force && !detail::Run::interrupted()) {
    add_current_blockers(request.paths, patch, t);
    if (progress.confirm_force && progress.confirm_force(patch) && !run.step("force")) {
      force_transition(request.paths, patch);
      outcome.forced = true;
      audit.record("force", {{"patch", patch}});
      const auto forced_at = SteadyClock::now();
      TransitionOutcome after = follower.wait(patch, true, since, forced_at + limit);
      after.blockers.merge(t.blockers);
      t = after;
    }
  }
  if (!t.finished) add_current_blockers(request.paths, patch, t);
  audit.record(t.finished ? "transition-end" : "transition-timeout",
               {{"patch", patch},
                {"result", bpf::to_string(t.result)},
                {"duration_seconds", std::chrono::duration<double>(t.duration).count()},
                {"rounds", t.rounds}});
  outcome.transition = t;
}

// Ends a failed apply: rolls the loaded patch back, each write journaled first.
void undo(const ApplyRequest& request, const std::string& failure, TransitionFollower& follower,
          detail::Run& run, const Progress& progress, AuditLog& audit, ApplyOutcome& outcome) {
  const std::string& patch = outcome.patch;
  tell(progress.note, patch + ": " + failure + "; rolling back");
  std::function<void(const std::string&)> note;
  if (progress.patch_note) {
    note = [&](const std::string& line) { progress.patch_note(patch, line); };
  }
  follower.stop_when({});  // the undoing is followed to its end, signal or not
  outcome.rollback = roll_back(request.paths, patch, follower, request.timeout, audit, note,
                               [&](const std::string& step) { return run.step(step); });
  if (outcome.rollback->left.empty()) {
    outcome.result = "reverted";
    outcome.message = failure + "; the patch was " +
                      (outcome.transition->finished ? "undone" : "reversed") +
                      " and its module unloaded";
    const bool interrupted = detail::Run::interrupted() != 0;
    outcome.error =
        Error{interrupted ? ExitCode::interrupted : ExitCode::gate_failed, outcome.message};
    if (auto error = run.end()) outcome.message += "; " + error->message;
  } else {
    outcome.result = "rollback-incomplete";
    outcome.message = failure + "; the rollback is incomplete: " + outcome.rollback->left;
    outcome.error = Error{ExitCode::rollback_incomplete, outcome.message};
    run.step("rollback-incomplete");  // lpmon status and the next run find it
  }
  audit.record(outcome.result, {{"patch", patch}, {"message", outcome.message}});
}

ApplyOutcome apply_steps(const ApplyRequest& request, const Progress& progress) {
  ApplyOutcome outcome;
  auto gate_or_error = load_apply_gate(request, progress);
  if (auto* error = std::get_if<Error>(&gate_or_error)) {
    outcome.error = *error;
    return outcome;
  }
  outcome.gate_file = std::get<std::shared_ptr<const gate::GateFile>>(gate_or_error);
  require_livepatch(request.paths);

  auto checked = preflight(request.module, request.paths);
  if (auto* error = std::get_if<Error>(&checked)) {
    outcome.error = *error;
    return outcome;
  }
  const CheckedModule& file = std::get<CheckedModule>(checked);
  const ModuleInfo& module = file.info;
  outcome.patch = module.name;

  auto begun = detail::Run::begin(detail::run_options(request), progress, outcome.recovered);
  if (auto* error = std::get_if<Error>(&begun)) {
    outcome.error = *error;
    return outcome;
  }
  detail::Run& run = *std::get<std::unique_ptr<detail::Run>>(begun);
  const auto stopped = [&]() {
    outcome.error = Error{ExitCode::interrupted, interruption() + "; nothing was changed"};
    return outcome;
  };
  if (detail::Run::interrupted()) return stopped();

  const std::vector<LivepatchPatch> before = read_patches(request.paths);
  if (auto refusal = check_host(before, module, request.paths, outcome)) {
    outcome.error = std::move(refusal);
    return outcome;
  }
  if (!outcome.result.empty()) return outcome;  // already applied

  AuditLog audit = open_audit(request, progress);
  const bool stale = module_loaded(request.paths, module.name);
  JournalEntry entry;
  entry.command = "apply";
  entry.patch = module.name;
  entry.module = request.module.string();
  entry.srcversion = module.srcversion.value_or("");
  entry.was_loaded = stale;
  run.describe(entry);
  if (stale) {
    // A livepatch module whose patch was replaced or disabled: unused, and in the way of
    // loading.
    try {
      if (auto error = run.step("unload-stale")) {
        outcome.error = error;
        return outcome;
      }
      unload_module(module.name);
      audit.record("unload-stale", {{"module", module.name}});
      tell(progress.note, "unloaded module " + module.name +
                              ", loaded but no longer an active patch, before loading the file");
    } catch (const KernelError& error) {
      run.end();
      outcome.error =
          Error{ExitCode::runtime_error, error.what() + std::string("; nothing was changed")};
      return outcome;
    }
  }

  std::unique_ptr<KernelLog> log = open_kernel_log(progress);
  outcome.taint_before = read_taint(request.paths).mask;
  TransitionFollower follower(request.paths, progress.transition);
  follower.stop_when([] { return detail::Run::interrupted() != 0; });
  outcome.followed_by = follower.method();
  if (!follower.fallback_reason().empty()) {
    tell(progress.warning,
         "following the transition by polling sysfs every 100 ms, as the BPF tracer is "
         "unavailable: " +
             follower.fallback_reason());
  }
  if (detail::Run::interrupted()) {
    run.end();
    return stopped();
  }

  json load_fields{{"module", request.module.string()},
                   {"patch", module.name},
                   {"vermagic", module.vermagic.value_or("")},
                   {"srcversion", module.srcversion.value_or("")},
                   {"version", module.version.value_or("")}};
  if (module.lpmon) load_fields["cves"] = module.lpmon->cves;
  if (request.gate) load_fields["gate"] = request.gate->string();
  if (auto error = run.step("load")) {
    outcome.error = error;
    return outcome;
  }
  audit.record("load", load_fields);
  const auto since = SteadyClock::now();
  try {
    load_module(*file.file);
  } catch (const KernelError& error) {
    outcome.result = "load-failed";
    outcome.message = error.what() + std::string("; nothing was changed");
    outcome.error = Error{ExitCode::runtime_error, outcome.message};
    outcome.kernel_log = related_log_lines(log.get(), module.name);
    audit.record("load-failed", {{"patch", module.name}, {"error", error.what()}});
    if (!module_loaded(request.paths, module.name)) run.end();
    return outcome;
  }
  outcome.changed = true;

  const gate::Duration limit = transition_limit(request, outcome.gate_file.get());
  if (auto error = run.step("transition")) {
    undo(request, error->message, follower, run, progress, audit, outcome);
    return outcome;
  }
  follow(request, follower, limit, since, progress, audit, run, outcome);
  if (outcome.gate_file && !detail::Run::interrupted()) {
    if (auto error = run.step("gate")) {
      undo(request, error->message, follower, run, progress, audit, outcome);
      return outcome;
    }
  }
  const std::string failure =
      judge(request, outcome.gate_file.get(), limit, log.get(), progress, audit, outcome);
  outcome.taint_after = read_taint(request.paths).mask;
  if (!failure.empty()) {
    undo(request, failure, follower, run, progress, audit, outcome);
    return outcome;
  }
  // An atomic replace supersedes every patch enabled before once its transition completes;
  // their sysfs directories go later, when klp's free work runs, so sysfs cannot tell yet.
  if (module.patch.replace.value_or(false)) {
    for (const LivepatchPatch& patch : before) {
      if (patch.enabled) outcome.replaced.push_back(patch.name);
    }
  }
  outcome.result = "applied";
  outcome.message = outcome.forced ? "applied (transition forced)" : "applied";
  if (auto error = run.end()) outcome.message += "; " + error->message;
  audit.record("applied", {{"patch", module.name}});
  return outcome;
}

}  // namespace

ApplyOutcome apply_patch(const ApplyRequest& request, const Progress& progress) {
  return detail::guarded<ApplyOutcome>([&] { return apply_steps(request, progress); });
}

}  // namespace lpmon::rollout
