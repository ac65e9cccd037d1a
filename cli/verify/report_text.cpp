// lpmon verify's report as text for a terminal.
#include <sstream>

#include "verify/artifacts.hpp"
#include "verify/verify.hpp"

namespace lpmon::cli {

using namespace verify;

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

}  // namespace lpmon::cli
