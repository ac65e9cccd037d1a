#include "verify.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "command.hpp"
#include "gate.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_image.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/module_inspector.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using gate::Phase;
using nlohmann::json;

constexpr int kInvalid = to_int(ExitCode::invalid_input);
constexpr int kError = to_int(GateExitCode::error);

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::optional<json> read_json(const fs::path& file) {
  const std::string text = read_text(file);
  if (text.empty()) return std::nullopt;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::optional<std::uint64_t> read_number(const fs::path& file) {
  const std::string text = trim(read_text(file));
  if (text.empty()) return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<int> read_rc(const fs::path& file) {
  if (auto n = read_number(file)) return static_cast<int>(*n);
  return std::nullopt;
}

// --- the guest's measurements

struct PhaseCalls {
  bool observed = false;
  std::string probe;
  std::uint64_t calls = 0;
  std::uint64_t timed = 0;
  std::uint64_t total_ns = 0;
  std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> latency;  // low -> high, n

  std::optional<double> mean_ns() const {
    if (timed == 0) return std::nullopt;
    return static_cast<double>(total_ns) / static_cast<double>(timed);
  }
  json to_json() const {
    json slots = json::array();
    for (const auto& [low, slot] : latency) {
      slots.push_back({{"low", low}, {"high", slot.first}, {"count", slot.second}});
    }
    const auto mean = mean_ns();
    return {{"observed", observed}, {"probe", probe},
            {"calls", calls},       {"timed", timed},
            {"total_ns", total_ns}, {"mean_ns", mean ? json(*mean) : json()},
            {"latency_ns", slots}};
  }
};

// `lpmon calls --json` lines: the last "calls" object per function has the counters since it
// was attached; the intervals' latency histograms add up to the phase's.
std::map<std::string, PhaseCalls> read_calls(const fs::path& file) {
  std::map<std::string, PhaseCalls> by_function;
  for (const std::string& line : lines_of(read_text(file))) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    const std::string key =
        j.value("object", std::string()) + ":" + j.value("function", std::string());
    const std::string type = j.value("type", std::string());
    PhaseCalls& f = by_function[key];
    if (type == "attached") {
      f.observed = true;
      f.probe = j.value("probe", std::string());
    } else if (type == "calls") {
      f.observed = true;
      f.calls = j.value("calls", std::uint64_t{0});
      f.timed = j.value("timed", std::uint64_t{0});
      f.total_ns = j.value("total_ns", std::uint64_t{0});
      for (const json& slot : j.value("latency_ns", json::array())) {
        auto& [high, n] = f.latency[slot.value("low", std::uint64_t{0})];
        high = slot.value("high", std::uint64_t{0});
        n += slot.value("count", std::uint64_t{0});
      }
    }
  }
  return by_function;
}

double seconds_of(const json& value) {
  return value.is_number() ? value.get<double>() : 0.0;
}

// "[   12.345678] text" -> 12.345678
std::optional<double> dmesg_time(const std::string& line) {
  if (line.size() < 3 || line[0] != '[') return std::nullopt;
  const auto close = line.find(']');
  if (close == std::string::npos) return std::nullopt;
  try {
    return std::stod(line.substr(1, close - 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool is_report_start(const std::string& line) {
  for (const char* marker : {"WARNING:", "BUG:", "Oops", "general protection", "Kernel panic"}) {
    if (line.find(marker) != std::string::npos) return true;
  }
  return false;
}

std::string taint_letters(std::uint64_t mask) {
  return Taint{mask}.letters();
}

std::vector<std::string> taint_names(std::uint64_t mask) {
  std::vector<std::string> names;
  for (const TaintFlag& flag : Taint{mask}.flags()) names.emplace_back(flag.name);
  return names;
}

// The host evaluates the gate's local checks once more over the whole run, from the guest's
// record: time does not pass, the record does not change.
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

std::vector<std::string> kernel_reports(const std::string& log) {
  std::vector<std::string> reports;
  const auto lines = lines_of(log);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!is_report_start(lines[i])) continue;
    std::string text = lines[i];
    std::size_t j = i + 1;
    for (; j < lines.size() && j < i + 40; ++j) {
      if (is_report_start(lines[j])) break;
      text += "\n" + lines[j];
      if (lines[j].find("---[ end trace") != std::string::npos) {
        ++j;
        break;
      }
    }
    reports.push_back(text);
    i = j - 1;
  }
  return reports;
}

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

std::string format_verify_text(const json& r) {
  std::ostringstream out;
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  out << "verdict: " << r["verdict"].get<std::string>() << " (exit " << r["exitCode"] << ")\n";
  for (const json& reason : r["reasons"]) {
    out << "  " << reason["phase"].get<std::string>() << ": " << reason["reason"].get<std::string>()
        << "\n";
  }
  out << "patch:        " << r["patch"]["module"].get<std::string>() << " ("
      << r["patch"]["file"].get<std::string>() << ")\n";
  out << "kernel:       " << r["kernel"]["release"].get<std::string>() << " from "
      << r["kernel"]["source"].get<std::string>() << ", " << r["kernel"]["accel"].get<std::string>()
      << " (" << r["kernel"]["accel_reason"].get<std::string>() << ")\n";
  out << "loaded:       " << yes(r["loaded"]) << ", transitioned: " << yes(r["transitioned"]);
  const json& tr = r["transition"];
  if (tr.is_object() && tr.contains("duration_seconds") && tr["duration_seconds"].is_number()) {
    char text[64];
    std::snprintf(text, sizeof text, " in %.2f s", tr["duration_seconds"].get<double>());
    out << text;
  }
  if (tr.is_object() && tr.contains("rounds")) out << ", " << tr["rounds"] << " round(s)";
  out << "\n";
  if (tr.is_object() && tr.contains("blocking_tasks") && tr["blocking_tasks"].is_array()) {
    out << "blocking:     " << tr["blocking_tasks"].size() << " task(s) held up a round";
    for (const json& t : tr["blocking_tasks"]) {
      if (t.is_object()) {
        out << "; " << t.value("comm", std::string()) << " (" << t.value("pid", 0) << ", "
            << t.value("reason", std::string()) << ")";
      }
    }
    out << "\n";
  }
  for (const json& f : r["calls"]) {
    out << "function:     " << f["function"].get<std::string>() << " ["
        << f["object"].get<std::string>() << "]";
    for (const char* phase : {"unpatched", "patched"}) {
      const json& p = f[phase];
      if (p.is_null()) continue;
      out << "  " << phase << " " << p["calls"] << " calls";
      if (p["mean_ns"].is_number()) {
        out << ", mean " << static_cast<long long>(p["mean_ns"].get<double>()) << " ns";
      }
    }
    if (f["overhead"].is_number()) {
      char text[32];
      std::snprintf(text, sizeof text, "  (%+.0f%%)", f["overhead"].get<double>() * 100);
      out << text;
    }
    out << "\n";
  }
  if (r["timing_note"].is_string())
    out << "note:         " << r["timing_note"].get<std::string>() << "\n";
  out << "warnings:     " << r["kernel_warnings"].size() << "\n";
  for (const json& w : r["kernel_warnings"]) {
    // The first lines say where; the whole report is in --json and --report.
    const auto lines = lines_of(w.get<std::string>());
    for (std::size_t i = 0; i < lines.size() && i < 12; ++i) out << "  | " << lines[i] << "\n";
    if (lines.size() > 12) out << "  | ... (" << lines.size() - 12 << " more lines)\n";
  }
  const json& taint = r["taint"];
  if (taint.contains("end_letters")) {
    out << "taint:        '" << taint["before_letters"].get<std::string>() << "' before, '"
        << taint["end_letters"].get<std::string>() << "' after\n";
  }
  auto clean = [](const json& j) {
    return j.is_boolean() ? (j.get<bool>() ? "clean" : "NOT clean") : "not needed";
  };
  out << "revert:       " << clean(r["revert"]["clean"])
      << ", unload: " << clean(r["unload"]["clean"]) << "\n";
  out << "guest:        " << r["guest"]["dir"].get<std::string>() << "\n";
  return out.str();
}

namespace {

// --- running the guest

struct Options {
  std::string patch;
  std::string kernel_package;
  std::string kernel;
  std::string modules;
  std::string workload;
  std::string gate;
  std::string report;
  std::vector<std::string> load_modules;
  std::string accel = "auto";
  std::string apply_timeout = "60s";
  std::string bake = "10s";
  int guest_timeout = 0;
  bool json_output = false;
};

// Where lpmon's run-time data is: $LPMON_DATA_DIR, else <prefix>/share/lpmon next to the
// binary (the build tree has the same layout: build/cli/lpmon, build/share/lpmon).
fs::path data_dir() {
  if (const char* env = std::getenv("LPMON_DATA_DIR"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path().parent_path() / "share" / "lpmon";
}

fs::path cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "lpmon";
  if (const char* home = std::getenv("HOME"); home && *home) {
    return fs::path(home) / ".cache" / "lpmon";
  }
  return fs::temp_directory_path() / "lpmon-cache";
}

std::optional<fs::path> exporter_binary() {
  std::error_code ec;
  const fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const fs::path& candidate :
       {dir / "lpmon-exporter", dir.parent_path() / "exporter" / "lpmon-exporter"}) {
    if (fs::exists(candidate)) return candidate;
  }
  return std::nullopt;
}

// Runs argv; its output goes to `log` (or to our stderr when empty). `tick` runs every 200 ms
// meanwhile. Returns the exit status, or -1 when it could not start.
int run_process(const std::vector<std::string>& argv, const fs::path& log,
                const std::function<void()>& tick = {}) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (!log.empty()) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
    } else {
      dup2(2, 1);
    }
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0) return -1;
    if (tick) tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (tick) tick();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// kvm when /dev/kvm can create a VM and qemu can start a KVM vCPU on it (some hosts, e.g.
// nested ones, have a /dev/kvm on which qemu aborts at once), else tcg.
std::pair<std::string, std::string> choose_accel(const std::string& wanted) {
  if (wanted == "tcg") return {"tcg", "--accel tcg"};
  if (wanted == "kvm") return {"kvm", "--accel kvm"};
  const int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return {"tcg", "no usable /dev/kvm"};
  const int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  close(kvm);
  if (vm < 0) return {"tcg", "/dev/kvm cannot create a VM"};
  close(vm);
  // A qemu that stays up for a second has its vCPU set up; a broken KVM makes it abort.
  const int rc = run_process({"timeout", "1", "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host",
                              "-display", "none", "-nodefaults", "-no-reboot", "-S"},
                             "/dev/null");
  if (rc == 124) return {"kvm", "/dev/kvm runs a guest"};
  return {"tcg", "qemu cannot start a KVM guest here (exit " + std::to_string(rc) + ")"};
}

std::string file_tail(const fs::path& file, std::size_t n) {
  const auto lines = lines_of(read_text(file));
  std::string text;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    text += lines[i] + "\n";
  }
  return trim(text);
}

std::string exit_codes_footer() {
  std::string footer =
      "The patch is refused before any boot when it is not a livepatch or was built for "
      "another kernel than the one given. Runs need qemu-system-x86, busybox-static and cpio, "
      "and apt-get to fetch a kernel.\n\nExit codes:\n"
      "   0  Successful: loaded, transitioned, the gate passed, no warning, clean revert\n"
      "   1  Failed: the patch did not apply, the kernel warned or oopsed, a gate check failed, "
      "or the revert or unload was not clean\n"
      "   2  Inconclusive: the workload did not call every patched function, or a gate check "
      "could not decide\n"
      "   3  Error: the verification could not run or finish (no kernel package, no qemu, the "
      "guest died without a kernel crash)\n"
      "   6  invalid command line, gate file or workload script; nothing was booted\n";
  for (const ExitCodeDoc& doc : kExitCodeDocs) {
    const int code = to_int(doc.code);
    if (code >= to_int(ExitCode::unreadable_file) && code <= to_int(ExitCode::kernel_mismatch)) {
      footer += (code < 10 ? "   " : "  ") + std::to_string(code) + "  " +
                std::string(doc.meaning) + "; nothing was booted\n";
    }
  }
  return footer;
}

int parse_and_run(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "Verify a livepatch on the kernel it was built for before deploying it: boot that "
      "kernel under QEMU, apply the patch under a gate, run a workload through the patched "
      "functions, bake, revert, and report.",
      "lpmon verify"};
  app.footer(exit_codes_footer());
  app.get_formatter()->column_width(40);
  Options o;
  app.add_option("PATCH", o.patch, "The livepatch module (.ko)")->required();
  app.add_option("--kernel-package", o.kernel_package,
                 "Debian kernel image package to boot (default: linux-image-<release> of the "
                 "module's vermagic), fetched once into $XDG_CACHE_HOME/lpmon/kernels")
      ->type_name("NAME");
  app.add_option("--kernel", o.kernel, "Boot this kernel image instead of a package")
      ->type_name("VMLINUZ");
  app.add_option("--modules", o.modules,
                 "That kernel's modules (default: lib/modules/<release> beside VMLINUZ's boot/)")
      ->type_name("DIR");
  app.add_option("--load-module", o.load_modules,
                 "A module the patch's objects need that the kernel does not ship, loaded "
                 "before the patch (repeatable, in order)")
      ->type_name("FILE.ko");
  app.add_option("--workload", o.workload,
                 "Run this sh script in the guest instead of the default workload; its first "
                 "argument is a file of OBJECT:FUNCTION lines")
      ->type_name("SCRIPT");
  app.add_option("--gate", o.gate,
                 "Gate file for lpmon apply and the final verdict (docs/gate.md; default: "
                 "transition within 60s, no blocking tasks, no new taint)")
      ->type_name("FILE");
  app.add_option("--report", o.report, "Also write the report as a self-contained HTML page")
      ->type_name("FILE.html");
  app.add_flag("--json", o.json_output,
               "Print the report as one JSON document; progress to stderr");
  app.add_option("--bake", o.bake, "How long to hold the patch under load before reverting")
      ->type_name("D")
      ->capture_default_str();
  app.add_option("--apply-timeout", o.apply_timeout, "lpmon apply --timeout in the guest")
      ->type_name("D")
      ->capture_default_str();
  app.add_option("--accel", o.accel, "auto (kvm where qemu can use it, else tcg), kvm or tcg")
      ->type_name("KIND")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}).description(""))
      ->capture_default_str();

  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "lpmon verify: " << e.what() << "\nRun lpmon verify --help for the options.\n";
    return kInvalid;
  }
  auto invalid = [&](const std::string& message) {
    err << "lpmon verify: " << message << '\n';
    return kInvalid;
  };
  const auto bake = gate::parse_duration(o.bake);
  if (!bake) return invalid("--bake '" + o.bake + "': expected a duration such as 10s or 2m");
  const auto apply_timeout = gate::parse_duration(o.apply_timeout);
  if (!apply_timeout || apply_timeout->count() < 1000) {
    return invalid("--apply-timeout '" + o.apply_timeout + "': expected a duration of 1s or more");
  }
  if (!o.kernel_package.empty() && !o.kernel.empty()) {
    return invalid("--kernel-package and --kernel exclude each other");
  }
  if (!o.modules.empty() && o.kernel.empty()) return invalid("--modules needs --kernel");

  // The patch: refused here, before any download or boot, when it cannot be verified.
  ModuleInfo module;
  try {
    module = ModuleInspector().inspect(o.patch);
  } catch (const ModuleFileError& e) {
    err << "lpmon verify: " << e.what() << '\n';
    switch (e.problem()) {
      case ModuleFileProblem::unreadable:
        return to_int(ExitCode::unreadable_file);
      case ModuleFileProblem::not_a_module:
        return to_int(ExitCode::not_a_module);
      case ModuleFileProblem::corrupt:
        return to_int(ExitCode::corrupt_module);
    }
  }
  if (!module.livepatch) {
    err << "lpmon verify: " << o.patch
        << ": a kernel module, but not a livepatch (no livepatch=Y in .modinfo)\n";
    return to_int(ExitCode::not_livepatch);
  }
  if (!module.release) {
    err << "lpmon verify: " << o.patch << ": no vermagic: cannot tell which kernel it is for\n";
    return to_int(ExitCode::not_a_module);
  }
  const std::string release = *module.release;

  for (const std::string& m : o.load_modules) {
    if (!fs::is_regular_file(m)) return invalid("--load-module " + m + ": no such file");
  }
  if (!o.workload.empty() && !fs::is_regular_file(o.workload)) {
    return invalid("--workload " + o.workload + ": no such file");
  }
  const fs::path data = data_dir();
  const fs::path gate_path = o.gate.empty() ? data / "verify" / "gate.yaml" : fs::path(o.gate);
  gate::GateFile gate_file;
  try {
    gate_file = gate::load_gate_file(gate_path);
  } catch (const gate::GateFileError& e) {
    return invalid(e.what());
  }

  // The kernel: the package of the module's release, or the image given, whose release must
  // be the module's (the kernel refuses a module with another vermagic).
  VerifyRun run;
  run.patch_file = o.patch;
  run.patch_name = module.name;
  run.release = release;
  run.gate_file = o.gate.empty() ? "(default) " + gate_path.string() : o.gate;
  run.workload = o.workload.empty() ? "default" : o.workload;
  run.bake_seconds = static_cast<int>(bake->count() / 1000);
  auto mismatch = [&](const std::string& kernel_release, const std::string& what) {
    err << "lpmon verify: " << o.patch << " was built for " << release << " (vermagic), but "
        << what << " is " << kernel_release
        << ": the kernel would refuse to load it; verify it on its own kernel (omit --kernel "
           "and --kernel-package)\n";
    return to_int(ExitCode::kernel_mismatch);
  };
  fs::path vmlinuz, modules_dir;
  std::string package;
  if (!o.kernel.empty()) {
    const auto image_release = bzimage_release(o.kernel);
    if (!image_release) {
      return invalid("--kernel " + o.kernel + ": not an x86 kernel image (no boot header)");
    }
    if (*image_release != release) return mismatch(*image_release, o.kernel);
    vmlinuz = o.kernel;
    modules_dir = o.modules.empty()
                      ? fs::absolute(vmlinuz).parent_path().parent_path() / "lib/modules" / release
                      : fs::path(o.modules);
    run.kernel_source = o.kernel;
  } else {
    package = o.kernel_package.empty() ? "linux-image-" + release : o.kernel_package;
    static constexpr std::string_view prefix = "linux-image-";
    std::string package_release =
        package.starts_with(prefix) ? package.substr(prefix.size()) : package;
    if (package_release.ends_with("-unsigned")) {
      package_release.resize(package_release.size() - std::string_view("-unsigned").size());
    }
    if (package_release != release) return mismatch(package_release, "package " + package);
    run.kernel_source = "package " + package;
  }

  for (const char* file : {"mkinitramfs.sh", "run-guest.sh", "fetch-kernel.sh", "guest/init",
                           "guest/lib.sh", "verify/verify-guest.sh", "verify/workload.sh"}) {
    if (!fs::exists(data / file)) {
      err << "lpmon verify: lpmon's run-time data is incomplete: " << (data / file).string()
          << " is missing (install lpmon, or set LPMON_DATA_DIR to its share/lpmon)\n";
      return kError;
    }
  }

  if (vmlinuz.empty()) {
    err << "lpmon verify: kernel " << release << " (" << package << ")\n";
    const fs::path kernel_dir = cache_dir() / "kernels" / release;
    const int rc = run_process({(data / "fetch-kernel.sh").string(), "--release", release,
                                "--package", package, "--dir", kernel_dir.string()},
                               "");
    if (rc == 3) {
      err << "lpmon verify: " << o.patch << " was built for " << release
          << ", and the package registry has no " << package
          << ": give that kernel with --kernel VMLINUZ (and --modules DIR); nothing was booted\n";
      return to_int(ExitCode::kernel_mismatch);
    }
    if (rc != 0) {
      err << "lpmon verify: could not fetch " << package << "; nothing was booted\n";
      return kError;
    }
    vmlinuz = kernel_dir / "vmlinuz";
    modules_dir = kernel_dir / "root/lib/modules" / release;
  }

  const fs::path work = cache_dir() / "verify" / module.name;
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work / "files/modules", ec);
  if (ec) {
    err << "lpmon verify: cannot create " << work.string() << ": " << ec.message() << '\n';
    return kError;
  }
  const auto [accel, accel_reason] = choose_accel(o.accel);
  run.accel = accel;
  run.accel_reason = accel_reason;

  // The patch's module objects: those given with --load-module, the rest from the kernel.
  std::vector<std::string> given;
  std::ofstream modules_list(work / "files/modules.txt");
  std::vector<std::string> guest_files;
  for (const std::string& m : o.load_modules) {
    ModuleInfo info;
    try {
      info = ModuleInspector().inspect(m);
    } catch (const ModuleFileError& e) {
      return invalid(std::string("--load-module: ") + e.what());
    }
    fs::copy_file(m, work / "files/modules" / (info.name + ".ko"),
                  fs::copy_options::overwrite_existing);
    modules_list << info.name << '\n';
    given.push_back(info.name);
    guest_files.push_back((work / "files/modules" / (info.name + ".ko")).string() +
                          ":verify/modules/" + info.name + ".ko");
  }
  modules_list.close();
  std::vector<std::string> initramfs_args{(data / "mkinitramfs.sh").string(),
                                          "--out",
                                          (work / "initramfs.cpio").string(),
                                          "--guest-dir",
                                          (data / "guest").string(),
                                          "--modules-dir",
                                          modules_dir.string(),
                                          "--release",
                                          release};
  {
    std::error_code self_ec;
    initramfs_args.insert(initramfs_args.end(),
                          {"--bin", fs::read_symlink("/proc/self/exe", self_ec).string()});
  }
  if (const auto exporter = exporter_binary()) {
    initramfs_args.insert(initramfs_args.end(), {"--bin", exporter->string()});
  }
  if (module.patch.objects) {
    for (const PatchedObject& object : *module.patch.objects) {
      if (object.name == "vmlinux" ||
          std::find(given.begin(), given.end(), object.name) != given.end()) {
        continue;
      }
      initramfs_args.insert(initramfs_args.end(), {"--kernel-module", object.name});
    }
  }
  err << "lpmon verify: building the guest (" << release << ", " << accel << ")\n";
  if (run_process(initramfs_args, work / "mkinitramfs.log") != 0) {
    err << "lpmon verify: building the guest's initramfs failed:\n"
        << file_tail(work / "mkinitramfs.log", 5) << "\n";
    return kError;
  }

  {
    std::ofstream params(work / "files/params");
    params << "PATCH_NAME=" << module.name << "\nBAKE_SECONDS=" << run.bake_seconds
           << "\nAPPLY_TIMEOUT=" << apply_timeout->count() / 1000 << "\nREVERT_TIMEOUT=60\n";
  }
  const fs::path workload = o.workload.empty() ? data / "verify/workload.sh" : fs::path(o.workload);
  const int guest_timeout =
      180 + static_cast<int>(apply_timeout->count() / 1000) + 2 * run.bake_seconds;
  std::vector<std::string> guest_args{
      (data / "run-guest.sh").string(),
      // verify judges the kernel's warnings itself, into its report.
      "--kernel-problems", "report", "--name", "verify", "--kernel", vmlinuz.string(),
      "--initramfs", (work / "initramfs.cpio").string(), "--scenario",
      (data / "verify/verify-guest.sh").string(), "--out", (work / "guest").string(), "--timeout",
      std::to_string(guest_timeout), "--accel", accel, "--quiet", "--file",
      fs::absolute(o.patch).string() + ":verify/patch.ko", "--file",
      gate_path.string() + ":verify/gate.yaml", "--file",
      fs::absolute(workload).string() + ":verify/workload.sh", "--file",
      (work / "files/params").string() + ":verify/params", "--file",
      (work / "files/modules.txt").string() + ":verify/modules.txt"};
  for (const std::string& f : guest_files) guest_args.insert(guest_args.end(), {"--file", f});

  // Progress: the guest script's "verify: " lines, as they arrive on its serial port.
  const fs::path result_log = work / "guest/result.log";
  std::size_t seen = 0;
  auto show_progress = [&] {
    const std::string text = read_text(result_log);
    std::size_t end;
    while ((end = text.find('\n', seen)) != std::string::npos) {
      std::string line = text.substr(seen, end - seen);
      seen = end + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.starts_with("verify: ")) err << "lpmon verify: " << line.substr(8) << std::endl;
    }
  };
  err << "lpmon verify: booting " << release << " under QEMU (" << accel << ")\n";
  const auto started = std::chrono::steady_clock::now();
  const int guest_rc = run_process(guest_args, work / "run-guest.log", show_progress);
  run.guest_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  run.guest_dir = (work / "guest").string();
  const fs::path artifacts = work / "guest/artifacts";
  run.guest_finished = guest_rc == 0 && fs::exists(artifacts / "done.txt");
  if (!run.guest_finished) {
    run.guest_log_tail = file_tail(result_log, 15) + "\n" + file_tail(work / "run-guest.log", 5);
  }
  // The serial console has every kernel message at warning level and worse.
  std::string console;
  for (const std::string& line : lines_of(read_text(work / "guest/console.log"))) {
    console += line + "\n";
  }
  for (const std::string& crash : kernel_reports(console)) {
    if (crash.find("Kernel panic") != std::string::npos ||
        crash.find("Oops") != std::string::npos || crash.find("BUG:") != std::string::npos) {
      if (!run.guest_finished) run.console_crash += crash + "\n";
    }
  }

  const json report = build_verify_report(run, artifacts, gate_file);
  if (!o.report.empty()) {
    std::ofstream html(o.report);
    html << render_verify_html(report);
    if (!html) {
      err << "lpmon verify: cannot write " << o.report << '\n';
      return kError;
    }
    err << "lpmon verify: report written to " << o.report << '\n';
  }
  if (o.json_output) {
    out << report.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    out << format_verify_text(report);
  }
  return report["exitCode"].get<int>();
}

}  // namespace

int run_verify_command(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  try {
    return parse_and_run(std::move(args), out, err);
  } catch (const std::exception& e) {
    // Not a verdict on the patch: never report it as a failure.
    err << "lpmon verify: error: " << e.what() << '\n';
    return kError;
  }
}

Command add_verify_command(CLI::App& lpmon) {
  // As lpmon gate: exit 2 means Inconclusive here, so verify parses its own arguments and
  // reports wrong input as 6.
  CLI::App* verify = lpmon.add_subcommand(
      "verify",
      "Boot the patch's kernel under QEMU, apply the patch under a gate, load it, revert it, "
      "and report (own exit codes)");
  verify->prefix_command();
  verify->allow_extras();
  verify->set_help_flag();
  return {verify, [verify](std::ostream& out, std::ostream& err) {
            return run_verify_command(verify->remaining(), out, err);
          }};
}

}  // namespace lpmon::cli
