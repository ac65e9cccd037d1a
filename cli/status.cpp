#include "status.hpp"

#include <algorithm>
#include <memory>
#include <sstream>
#include <string_view>

#include "command.hpp"
#include "lpmon/kernel_log.hpp"
#include "lpmon/rollout/recovery.hpp"
#include "lpmon/util/clock.hpp"
#include "lpmon/util/text.hpp"
#include "text_report.hpp"

namespace lpmon::cli {
namespace {

using nlohmann::json;

// Column where values start in the text report, so that they line up like `systemctl status`.
// Enough pids to start an investigation without flooding the terminal; --json has all.
constexpr std::size_t kMaxPidsShown = 10;
// Pending tasks described with their stacks (text shows kMaxPidsShown of them).
constexpr std::size_t kMaxTasksDescribed = 100;

template <typename T>
json nullable(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

std::string_view state_id(LivepatchState state) {
  switch (state) {
    case LivepatchState::patched:
      return "patched";
    case LivepatchState::in_transition:
      return "in_transition";
    case LivepatchState::unpatched:
      return "unpatched";
    case LivepatchState::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view task_state_name(int state) {
  return state == kTaskPatched ? "patched" : "unpatched";
}

std::string yes_no(bool value) {
  return value ? "yes" : "no";
}

std::string yes_no_na(const std::optional<bool>& value) {
  return value ? yes_no(*value) : "n/a";
}

using text_report::continuation;
using text_report::field;

void render_taint(std::ostream& out, const Taint& taint) {
  if (taint.mask == 0) {
    field(out, "Taint", "none");
    return;
  }
  field(out, "Taint", taint.letters() + " (" + std::to_string(taint.mask) + ")");
  for (const TaintFlag& flag : taint.flags()) {
    continuation(out, "  " + std::string(1, flag.letter) + "  " + std::string(flag.name) + ": " +
                          std::string(flag.description));
  }
  if (taint.unknown_bits() != 0) {
    continuation(out, "  ?  bits unknown to lpmon: " + std::to_string(taint.unknown_bits()));
  }
}

void render_patch(std::ostream& out, const LivepatchPatch& patch) {
  out << '\n' << patch.name << '\n';
  field(out, "Enabled", yes_no(patch.enabled), 2);
  field(out, "Transition", yes_no(patch.transition), 2);
  field(out, "Replace", yes_no_na(patch.replace), 2);
  field(out, "Stack order", patch.stack_order ? std::to_string(*patch.stack_order) : "n/a", 2);
  if (patch.version) field(out, "Version", *patch.version, 2);
  auto joined = [](const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : " ") + item;
    return text.empty() ? std::string("none") : text;
  };
  if (patch.version || !patch.cves.empty()) {
    field(out, "CVEs fixed", joined(patch.cves), 2);
    field(out, "CVEs excluded", joined(patch.excluded_cves), 2);
  }
  for (const LivepatchObject& object : patch.objects) {
    field(out, "Object", object.name + " (patched: " + yes_no_na(object.patched) + ")", 2);
    for (const LivepatchFunc& func : object.funcs) {
      continuation(out, "  " + func.name + "," + std::to_string(func.sympos));
    }
  }
  for (const std::string& error : patch.errors) field(out, "Error", error, 2);
}

std::string describe_progress(const TransitionProgress& progress) {
  const TaskPatchCensus& tasks = progress.tasks;
  const std::size_t total = tasks.idle + tasks.unpatched + tasks.patched;
  std::string text = progress.patch + " -> " + std::string(task_state_name(progress.target_state)) +
                     ", " + std::to_string(tasks.not_at_target.size()) + " of " +
                     std::to_string(total) + " tasks pending";
  if (tasks.not_at_target.empty()) return text;
  text += " (pids";
  const std::size_t shown = std::min(tasks.not_at_target.size(), kMaxPidsShown);
  for (std::size_t i = 0; i < shown; ++i) text += " " + std::to_string(tasks.not_at_target[i]);
  if (shown < tasks.not_at_target.size()) {
    text += " and " + std::to_string(tasks.not_at_target.size() - shown) + " more";
  }
  return text + ")";
}

}  // namespace

StatusReport build_status_report(const KernelPaths& paths) {
  StatusReport report;
  report.patches = read_patches(paths);
  report.kernel_release = kernel_release(paths);
  report.taint = read_taint(paths);
  report.state = overall_state(report.patches);

  report.transition = transition_progress(paths, report.patches);
  if (report.transition) {
    const auto patch =
        std::find_if(report.patches.begin(), report.patches.end(),
                     [&](const LivepatchPatch& p) { return p.name == report.transition->patch; });
    std::vector<pid_t> pids = report.transition->tasks.not_at_target;
    if (pids.size() > kMaxTasksDescribed) pids.resize(kMaxTasksDescribed);
    if (patch != report.patches.end()) {
      report.pending = describe_pending_tasks(paths, *patch, pids);
    }
    if (auto start = transition_start_usec(read_kernel_log(), report.transition->patch)) {
      const double now_usec = std::chrono::duration<double, std::micro>(monotonic_now()).count();
      if (now_usec >= static_cast<double>(*start)) {
        report.transition_seconds = (now_usec - static_cast<double>(*start)) / 1e6;
      }
    }
  }
  return report;
}

PatchLevel patch_level(const std::vector<LivepatchPatch>& patches) {
  PatchLevel level;
  std::set<std::string> cves;
  for (const LivepatchPatch& patch : patches) {
    if (!patch.enabled) continue;
    level.patches.push_back(&patch);
    cves.insert(patch.cves.begin(), patch.cves.end());
  }
  level.cves.assign(cves.begin(), cves.end());
  return level;
}

ExitCode status_exit_code(LivepatchState state) {
  switch (state) {
    case LivepatchState::patched:
      return ExitCode::ok;
    case LivepatchState::in_transition:
      return ExitCode::in_transition;
    case LivepatchState::unpatched:
      return ExitCode::unpatched;
    case LivepatchState::unknown:
      return ExitCode::runtime_error;
  }
  return ExitCode::runtime_error;
}

json status_to_json(const StatusReport& report) {
  auto pending_tasks_json = [](const std::vector<PendingTask>& tasks) {
    json list = json::array();
    for (const PendingTask& task : tasks) {
      list.push_back({{"pid", task.pid},
                      {"comm", text::valid_utf8(task.comm)},
                      {"state", std::string(1, task.state)},
                      {"reason", task.reason},
                      {"function", task.function.empty() ? json(nullptr) : json(task.function)},
                      {"stack", task.stack}});
    }
    return list;
  };
  json patches = json::array();
  for (const LivepatchPatch& patch : report.patches) {
    json objects = json::array();
    for (const LivepatchObject& object : patch.objects) {
      json functions = json::array();
      for (const LivepatchFunc& func : object.funcs) {
        functions.push_back({{"name", func.name}, {"sympos", func.sympos}});
      }
      objects.push_back(
          {{"name", object.name}, {"patched", nullable(object.patched)}, {"functions", functions}});
    }
    patches.push_back({
        {"name", patch.name},
        {"enabled", patch.enabled},
        {"transition", patch.transition},
        {"replace", nullable(patch.replace)},
        {"stack_order", nullable(patch.stack_order)},
        {"version", nullable(patch.version)},
        {"cves", patch.cves},
        {"excluded_cves", patch.excluded_cves},
        {"objects", objects},
        {"errors", patch.errors},
    });
  }

  json taint_flags = json::array();
  for (const TaintFlag& flag : report.taint.flags()) taint_flags.push_back(flag.name);

  json transition = nullptr;
  if (report.transition) {
    const TaskPatchCensus& tasks = report.transition->tasks;
    transition = {
        {"patch", report.transition->patch},
        {"target", task_state_name(report.transition->target_state)},
        {"tasks",
         {{"idle", tasks.idle}, {"unpatched", tasks.unpatched}, {"patched", tasks.patched}}},
        {"pending_pids", tasks.not_at_target},
        {"running_seconds", nullable(report.transition_seconds)},
        {"pending_tasks", pending_tasks_json(report.pending)},
    };
  }
  const PatchLevel level = patch_level(report.patches);
  json level_patches = json::array();
  for (const LivepatchPatch* patch : level.patches) {
    level_patches.push_back({{"name", patch->name},
                             {"version", nullable(patch->version)},
                             {"transition", patch->transition}});
  }

  return {
      {"kernel_release", report.kernel_release},
      {"livepatch_supported", true},
      {"taint",
       {{"mask", report.taint.mask},
        {"letters", report.taint.letters()},
        {"flags", taint_flags},
        {"unknown_bits", report.taint.unknown_bits()}}},
      {"patch_level", {{"patches", level_patches}, {"cves", level.cves}}},
      {"patches", patches},
      {"transition", transition},
      {"state", state_id(report.state)},
  };
}

std::string render_status_text(const StatusReport& report) {
  std::ostringstream out;
  field(out, "Kernel release", report.kernel_release);
  field(out, "Livepatch", "supported");
  render_taint(out, report.taint);
  const PatchLevel level = patch_level(report.patches);
  if (level.patches.empty()) {
    field(out, "Patch level", "none");
  } else {
    std::string text;
    for (const LivepatchPatch* patch : level.patches) {
      text += (text.empty() ? "" : ", ") + patch->name +
              (patch->version ? " version " + *patch->version : "") +
              (patch->transition ? " (in transition)" : "");
    }
    field(out, "Patch level", text);
    if (!level.cves.empty()) {
      std::string cves;
      for (const std::string& cve : level.cves) cves += (cves.empty() ? "" : " ") + cve;
      field(out, "CVEs fixed", cves);
    }
  }
  field(out, "Patches", std::to_string(report.patches.size()));
  for (const LivepatchPatch& patch : report.patches) render_patch(out, patch);
  out << '\n';
  if (report.transition) {
    std::string text = describe_progress(*report.transition);
    if (report.transition_seconds) {
      char running[48];
      std::snprintf(running, sizeof running, ", running for %.1f s", *report.transition_seconds);
      text += running;
    }
    field(out, "Transition", text);
    for (std::size_t i = 0; i < report.pending.size() && i < kMaxPidsShown; ++i) {
      const PendingTask& task = report.pending[i];
      std::string why = task.reason == "sleeping_in_function" ? "sleeping in " + task.function
                        : task.reason == "running" ? "running (its stack cannot be checked)"
                                                   : "not switched yet";
      field(out, "Blocking",
            std::to_string(task.pid) + " " + text::printable(task.comm) + " (" + task.state +
                "): " + why);
      for (const std::string& frame : task.stack) continuation(out, "  " + frame);
    }
  }
  field(out, "State",
        report.state == LivepatchState::unknown
            ? "unknown (some patches could not be read, see Error above)"
            : to_string(report.state));
  return out.str();
}

}  // namespace lpmon::cli

namespace lpmon::cli {

namespace {

json entry_json(const rollout::JournalEntry& e) {
  return {{"command", e.command}, {"pid", e.pid},
          {"started", e.started}, {"patch", e.patch},
          {"module", e.module},   {"srcversion", e.srcversion},
          {"step", e.step},       {"was_enabled", e.was_enabled}};
}

// lpmon apply and revert as the lock and the journal show them: one running, or one that was
// cut short (killed, crashed) and that the next apply or revert converges.
json run_state_json(const rollout::RunState& runs) {
  json j{{"running", runs.lock_holder.has_value()},
         {"pid", runs.lock_holder && *runs.lock_holder ? json(*runs.lock_holder) : json(nullptr)},
         {"interrupted", runs.unfinished ? entry_json(*runs.unfinished) : json(nullptr)},
         {"current", runs.running ? entry_json(*runs.running) : json(nullptr)}};
  if (!runs.problem.empty()) j["journal_error"] = runs.problem;
  return j;
}

std::string render_run_state(const rollout::RunState& runs) {
  std::ostringstream out;
  if (runs.lock_holder) {
    field(out, "Running",
          "lpmon apply or revert" +
              (*runs.lock_holder ? " (pid " + std::to_string(*runs.lock_holder) + ")" : "") +
              (runs.running ? ": " + runs.running->command + " of " + runs.running->patch +
                                  ", at its step '" + runs.running->step + "'"
                            : ""));
  }
  if (runs.unfinished) {
    field(out, "Interrupted",
          rollout::describe(*runs.unfinished) + "; the next lpmon apply or revert " +
              (runs.unfinished->command == "apply" ? "rolls it back" : "completes it"));
  }
  if (!runs.problem.empty()) field(out, "Journal", runs.problem);
  return out.str();
}

}  // namespace

Command add_status_command(CLI::App& lpmon) {
  struct Options {
    bool json = false;
    KernelPaths paths;
    rollout::StatePaths state;
  };
  auto options = std::make_shared<Options>();
  CLI::App* status = lpmon.add_subcommand(
      "status", "Show the kernel's livepatches and whether patching is complete");
  status->add_flag("--json", options->json, "Print one JSON object instead of text");
  add_kernel_root_options(*status, options->paths);
  status->add_option("--run-dir", options->state.run_dir, "Where lpmon apply's lock is")
      ->type_name("DIR");
  status
      ->add_option("--state-dir", options->state.state_dir,
                   "Where lpmon apply's journal of an unfinished run is")
      ->type_name("DIR");
  return {status, [options](std::ostream& out, std::ostream& err) {
            const StatusReport report = build_status_report(options->paths);
            const rollout::RunState runs = rollout::run_state(options->state);
            if (options->json) {
              json j = status_to_json(report);
              j["run"] = run_state_json(runs);
              out << j.dump(2) << '\n';
            } else {
              out << render_status_text(report) << render_run_state(runs);
            }
            if (report.state == LivepatchState::unknown) {
              err << "lpmon: some livepatch state could not be read; the report lists the errors\n";
            }
            return to_int(status_exit_code(report.state));
          }};
}

}  // namespace lpmon::cli
