// lpmon verify's verdict and report data, from what the guest left (verify/artifacts.hpp).
#include <algorithm>

#include "gate.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/gate/engine.hpp"
#include "verify/artifacts.hpp"
#include "verify/verify.hpp"

namespace lpmon::cli {
namespace {

using gate::Phase;
using namespace verify;

class RecordedRun final : public gate::LocalSource {
 public:
  explicit RecordedRun(gate::LocalObservation observation) : observation_(std::move(observation)) {}
  gate::LocalObservation observe() override { return observation_; }

 private:
  gate::LocalObservation observation_;
};

class ReplayClock final : public gate::Clock {
 public:
  time_point now() override { return now_; }
  void sleep_until(time_point when) override { now_ = std::max(now_, when); }
  std::chrono::system_clock::time_point wall_now() override {
    return start_ +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(now_ - time_point{});
  }

 private:
  time_point now_{};
  std::chrono::system_clock::time_point start_ = std::chrono::system_clock::now();
};

struct Verdict {
  Phase phase = Phase::successful;
  json reasons = json::array();

  void add(Phase p, const std::string& reason) {
    if (gate::is_worse(p, phase)) phase = p;
    reasons.push_back({{"phase", gate::to_string(p)}, {"reason", reason}});
  }
};

}  // namespace

json build_verify_report(const VerifyRun& run, const fs::path& dir, const gate::GateFile& gate) {
  Verdict verdict;
  json report{
      {"patch", {{"file", run.patch_file}, {"module", run.patch_name}}},
      {"kernel",
       {{"release", run.release},
        {"source", run.kernel_source},
        {"accel", run.accel},
        {"accel_reason", run.accel_reason}}},
      {"gate_file", run.gate_file},
      {"workload", run.workload},
      {"bake_seconds", run.bake_seconds},
      {"guest",
       {{"seconds", run.guest_seconds}, {"dir", run.guest_dir}, {"finished", run.guest_finished}}},
  };
  if (!run.console_crash.empty()) {
    verdict.add(Phase::failed, "the guest kernel crashed:\n" + run.console_crash);
  }
  if (fs::exists(dir / "no-livepatch.txt")) {
    verdict.add(Phase::error, trim(read_text(dir / "no-livepatch.txt")));
  } else if (!run.guest_finished && run.console_crash.empty()) {
    verdict.add(Phase::error, "the guest did not finish (see " + run.guest_dir +
                                  "); its last lines:\n" + run.guest_log_tail);
  }

  // Which functions the patch replaces, and what the workload did for each.
  std::vector<std::string> functions;
  for (const std::string& line : lines_of(read_text(dir / "functions.txt"))) {
    if (!line.empty()) functions.push_back(line);
  }
  std::map<std::string, std::string> exercised;
  for (const std::string& line : lines_of(read_text(dir / "workload-unpatched.log"))) {
    for (const char* kind : {"exercised ", "generic "}) {
      if (line.starts_with(kind)) exercised[line.substr(std::string(kind).size())] = trim(kind);
    }
  }

  // Apply: loaded, transitioned, how long, blocking tasks.
  const auto apply = read_json(dir / "apply.json");
  const auto apply_rc = read_rc(dir / "apply.rc");
  const std::string apply_result = apply ? apply->value("result", std::string()) : "";
  const bool transitioned = apply_rc == 0 && apply_result != "reverted";
  const bool loaded = transitioned || apply_result == "reverted";
  json transition = apply && apply->contains("transition") ? (*apply)["transition"] : json();
  report["apply"] = {
      {"exit_code", apply_rc ? json(*apply_rc) : json()},
      {"result", apply_result.empty() ? json() : json(apply_result)},
      {"message",
       apply ? apply->value("message", std::string()) : trim(read_text(dir / "apply.err"))},
      {"gate", apply && apply->contains("gate") ? (*apply)["gate"] : json()},
  };
  report["loaded"] = loaded;
  report["transitioned"] = transitioned;
  report["transition"] = transition;
  if (run.guest_finished && !transitioned) {
    verdict.add(Phase::failed, "the patch did not apply: lpmon apply exited " +
                                   (apply_rc ? std::to_string(*apply_rc) : std::string("?")) +
                                   ": " + report["apply"]["message"].get<std::string>());
  }

  // Calls and their cost, unpatched against patched.
  const auto unpatched = read_calls(dir / "calls-unpatched.jsonl");
  const auto patched = read_calls(dir / "calls-patched.jsonl");
  json calls = json::array();
  // Each function's relative change in cost per call, weighted by its patched calls: a
  // function that sleeps (wait_released) must not drown out those that run.
  double weighted_overhead = 0, weights = 0;
  for (const std::string& key : functions) {
    const auto colon = key.find(':');
    const auto u = unpatched.find(key);
    const auto p = patched.find(key);
    json f{{"object", key.substr(0, colon)},
           {"function", key.substr(colon + 1)},
           {"exercised", exercised.contains(key) ? json(exercised[key]) : json()},
           {"unpatched", u != unpatched.end() ? u->second.to_json() : json()},
           {"patched", p != patched.end() ? p->second.to_json() : json()},
           {"overhead", json()}};
    if (u != unpatched.end() && p != patched.end() && u->second.mean_ns() && p->second.mean_ns()) {
      const double change = *p->second.mean_ns() / *u->second.mean_ns() - 1.0;
      f["overhead"] = change;
      weighted_overhead += change * static_cast<double>(p->second.timed);
      weights += static_cast<double>(p->second.timed);
    }
    if (transitioned && run.guest_finished && (p == patched.end() || p->second.calls == 0)) {
      verdict.add(Phase::inconclusive, "the workload never called " + key +
                                           " while patched: nothing shows the replacement works");
    }
    calls.push_back(std::move(f));
  }
  std::optional<double> overhead;
  if (weights > 0) overhead = weighted_overhead / weights;
  report["calls"] = calls;
  // Under TCG the guest's CPU is emulated, and a busy host shows in every timing.
  report["timing_note"] = run.accel == "tcg" ? json(
                                                   "costs measured under TCG (emulated CPU) are "
                                                   "noisy: compare them on KVM before trusting a "
                                                   "difference")
                                             : json();
  report["call_overhead"] = overhead ? json(*overhead) : json();
  if (transitioned && run.guest_finished && functions.empty()) {
    verdict.add(Phase::inconclusive,
                "lpmon inspect could not list the functions the patch replaces: none was observed");
  }

  // Kernel warnings and taint since the patch.
  const std::size_t lines_before = lines_of(read_text(dir / "dmesg-before.txt")).size();
  auto dmesg_since = [&](const char* file) {
    auto lines = lines_of(read_text(dir / file));
    std::string text;
    for (std::size_t i = std::min(lines_before, lines.size()); i < lines.size(); ++i) {
      text += lines[i] + "\n";
    }
    return text;
  };
  const auto warnings = kernel_reports(dmesg_since("dmesg-end.txt"));
  const auto warnings_until_bake = kernel_reports(dmesg_since("dmesg-after.txt"));
  report["kernel_warnings"] = warnings;
  if (!warnings.empty()) {
    verdict.add(Phase::failed, "the kernel logged " + std::to_string(warnings.size()) +
                                   " warning(s) or oops(es) after the patch: " +
                                   lines_of(warnings.front()).front());
  }
  const auto taint_before = read_number(dir / "taint-before.txt");
  const auto taint_after = read_number(dir / "taint-after.txt");
  const auto taint_end = read_number(dir / "taint-end.txt");
  json taint{{"before", taint_before ? json(*taint_before) : json()},
             {"after_bake", taint_after ? json(*taint_after) : json()},
             {"end", taint_end ? json(*taint_end) : json()}};
  if (taint_before && taint_end) {
    const std::uint64_t added = *taint_end & ~*taint_before;
    const std::uint64_t unexpected = added & ~gate::livepatch_taint_mask();
    taint["before_letters"] = taint_letters(*taint_before);
    taint["end_letters"] = taint_letters(*taint_end);
    taint["new_flags"] = taint_names(added);
    taint["unexpected_flags"] = taint_names(unexpected);
    if (unexpected) {
      verdict.add(Phase::failed, "the kernel gained taint " + taint_letters(unexpected) +
                                     " (not what a livepatch brings)");
    }
  }
  report["taint"] = taint;

  // Revert and unload.
  const auto revert = read_json(dir / "revert.json");
  const auto revert_rc = read_rc(dir / "revert.rc");
  const std::string unload_problems = trim(read_text(dir / "unload.txt"));
  const bool revert_clean = revert_rc == 0;
  const bool unload_clean = revert_clean && unload_problems.empty();
  // What the exporter in the guest said about the patch during the bake.
  json exporter = json::array();
  for (const std::string& line : lines_of(read_text(dir / "metrics.txt"))) {
    if (line.starts_with("lpmon_patch_enabled{") || line.starts_with("lpmon_transitions_total{")) {
      exporter.push_back(line);
    }
  }
  report["exporter_metrics"] = exporter;

  report["revert"] = {
      {"clean", loaded ? json(revert_clean) : json()},
      {"exit_code", revert_rc ? json(*revert_rc) : json()},
      {"result", revert ? revert->value("result", json()) : json()},
      {"transition", revert && revert->contains("transition") ? (*revert)["transition"] : json()},
      {"message",
       revert ? revert->value("message", std::string()) : trim(read_text(dir / "revert.err"))},
  };
  report["unload"] = {{"clean", loaded ? json(unload_clean) : json(unload_problems.empty())},
                      {"problems", unload_problems}};
  if (run.guest_finished && loaded && !revert_clean) {
    verdict.add(Phase::failed, "lpmon revert exited " +
                                   (revert_rc ? std::to_string(*revert_rc) : std::string("?")) +
                                   ": " + report["revert"]["message"].get<std::string>());
  } else if (run.guest_finished && !unload_problems.empty()) {
    verdict.add(Phase::failed, "not unloaded cleanly: " + unload_problems);
  }

  // The timeline: the run's phases (uptime), the transitions and what happened in them.
  json timeline{
      {"phases", json::array()}, {"transitions", json::array()}, {"events", json::array()}};
  std::map<std::string, double> marks;
  for (const std::string& line : lines_of(read_text(dir / "phases.txt"))) {
    std::istringstream in(line);
    double t = 0;
    std::string name;
    if (in >> t >> name) marks[name] = t;
  }
  const std::pair<const char*, const char*> phases[] = {
      {"baseline", "workload, unpatched"}, {"apply", "apply + gate"},
      {"patched", "workload, patched"},    {"bake", "bake"},
      {"revert", "revert + unload"},
  };
  for (const auto& [name, label] : phases) {
    const auto start = marks.find(name);
    const auto end = marks.find(std::string(name) + "-end");
    if (start != marks.end() && end != marks.end()) {
      timeline["phases"].push_back(
          {{"name", name}, {"label", label}, {"start", start->second}, {"end", end->second}});
    }
  }
  if (marks.contains("boot")) timeline["start"] = marks["boot"];
  if (marks.contains("end")) timeline["end"] = marks["end"];
  std::map<std::string, json> open_transitions;
  for (const std::string& line : lines_of(read_text(dir / "trace.jsonl"))) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    const double t = seconds_of(j.value("monotonic_ns", json(0))) / 1e9;
    const std::string type = j.value("type", std::string());
    const std::string key = j.value("patch", std::string()) + "/" + j.value("direction", "");
    if (type == "transition") {
      const std::string event = j.value("event", std::string());
      if (event == "start") {
        open_transitions[key] = {
            {"patch", j.value("patch", "")}, {"direction", j.value("direction", "")}, {"start", t}};
      } else if (event == "end" && open_transitions.contains(key)) {
        json tr = open_transitions[key];
        open_transitions.erase(key);
        tr["end"] = t;
        tr["result"] = j.value("result", "");
        tr["rounds"] = j.value("rounds", 0);
        timeline["transitions"].push_back(tr);
      } else if (event == "reverse") {
        timeline["events"].push_back({{"time", t}, {"kind", "reverse"}, {"text", "reversed"}});
      }
    } else if (type == "round") {
      timeline["events"].push_back(
          {{"time", t},
           {"kind", "round"},
           {"text", "round " + std::to_string(j.value("round", 0)) + ": " +
                        std::to_string(j.value("blocked", 0)) + " blocked"}});
    } else if (type == "task_blocked") {
      timeline["events"].push_back(
          {{"time", t},
           {"kind", "blocked"},
           {"text", j.value("comm", std::string()) + " (" + std::to_string(j.value("pid", 0)) +
                        ") blocks: " + j.value("reason_text", std::string())}});
    }
  }
  for (const std::string& line : lines_of(dmesg_since("dmesg-end.txt"))) {
    if (!is_report_start(line)) continue;
    if (const auto t = dmesg_time(line)) {
      timeline["events"].push_back({{"time", *t}, {"kind", "warning"}, {"text", line}});
    }
  }
  report["timeline"] = timeline;

  // Rounds and blocking tasks, from apply's report, else from the trace.
  if (transition.is_null()) transition = json::object();
  if (!transition.contains("rounds")) {
    for (const json& tr : timeline["transitions"]) {
      if (tr["direction"] == "patching") transition["rounds"] = tr["rounds"];
    }
  }

  // The gate once more, over the whole run.
  gate::LocalObservation observation;
  if (transition.contains("duration_seconds") && transition["duration_seconds"].is_number()) {
    observation.transition_duration = std::chrono::milliseconds(
        static_cast<long>(transition["duration_seconds"].get<double>() * 1000));
  }
  observation.transition_finished = transitioned;
  // As lpmon apply decides it: the tasks that keep the transition from finishing, so none once
  // it finished (those that only held up a round are in the report, not against the gate).
  std::vector<gate::BlockingTask> blocking;
  if (!transitioned && transition.contains("blocking_tasks") &&
      transition["blocking_tasks"].is_array()) {
    for (const json& t : transition["blocking_tasks"]) {
      if (t.is_object()) blocking.push_back({t.value("pid", 0), t.value("comm", std::string())});
    }
  }
  observation.blocking_tasks = blocking;
  observation.taint_before = taint_before;
  observation.taint_after = taint_after;
  if (run.guest_finished) {
    observation.kernel_warnings = static_cast<unsigned>(warnings_until_bake.size());
  }
  observation.call_overhead = overhead;
  if (run.guest_finished && transitioned) {
    RecordedRun source(observation);
    ReplayClock clock;
    const gate::GateReport gate_report = gate::run_gate(gate, nullptr, &source, clock, {});
    GateRequest request;
    request.file = gate.source;
    report["gate"] = report_json(gate_report, request);
    const bool any_local = std::any_of(gate_report.checks.begin(), gate_report.checks.end(),
                                       [](const auto& c) { return c.phase != Phase::skipped; });
    if (any_local && gate_report.verdict != Phase::successful) {
      verdict.add(gate_report.verdict, "gate " + gate.source + ": " + gate_report.message);
    }
  } else {
    report["gate"] = nullptr;
  }

  report["verdict"] = gate::to_string(verdict.phase);
  report["exitCode"] = exit_code_of(verdict.phase);
  report["reasons"] = verdict.reasons;
  report["message"] = verdict.reasons.empty()
                          ? "the patch loaded, transitioned, ran under the workload without a "
                            "warning and reverted cleanly"
                          : verdict.reasons.front()["reason"].get<std::string>();
  return report;
}

}  // namespace lpmon::cli
