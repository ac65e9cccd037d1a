// lpmon verify's HTML report: one self-contained page (inline CSS and SVG, no script, no
// network), for an SRE to look at rather than read: the verdict, a timeline of the run, and
// per patched function its calls and cost unpatched against patched.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>

#include "verify/verify.hpp"

namespace lpmon::cli {
namespace {

using nlohmann::json;

// The colours tests look for in a screenshot (tests/verify/check_report_png.py).
constexpr const char* kUnpatched = "#1f77b4";
constexpr const char* kPatched = "#ff7f0e";
constexpr const char* kPatching = "#2ca02c";
constexpr const char* kUnpatching = "#9467bd";
constexpr const char* kWarning = "#d62728";

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string num(double v, int decimals = 1) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

double number(const json& j, const char* key, double fallback = 0) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

std::string human_ns(double ns) {
  if (ns >= 1e6) return num(ns / 1e6, 2) + " ms";
  if (ns >= 1e3) return num(ns / 1e3, 2) + " µs";
  return num(ns, 0) + " ns";
}

std::string rect(double x, double y, double w, double h, const std::string& fill,
                 const std::string& title = "") {
  std::string s = "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" +
                  num(std::max(w, 0.0)) + "\" height=\"" + num(std::max(h, 0.0)) + "\" fill=\"" +
                  fill + "\">";
  if (!title.empty()) s += "<title>" + escape(title) + "</title>";
  return s + "</rect>";
}

std::string text(double x, double y, const std::string& content, const char* anchor = "start",
                 int size = 12, const char* fill = "#333") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor +
         "\" font-size=\"" + std::to_string(size) + "\" fill=\"" + fill + "\">" + escape(content) +
         "</text>";
}

// The run on one time axis (seconds of guest uptime): phases, transitions, events.
std::string timeline_svg(const json& timeline) {
  const double width = 1100, left = 150, right = 20, row = 34;
  double t0 = number(timeline, "start", 0), t1 = number(timeline, "end", 0);
  for (const char* list : {"phases", "transitions"}) {
    for (const json& p : timeline.value(list, json::array())) {
      if (t1 <= t0) t0 = number(p, "start");
      t0 = std::min(t0, number(p, "start"));
      t1 = std::max(t1, number(p, "end"));
    }
  }
  if (t1 <= t0) t1 = t0 + 1;
  const double plot = width - left - right;
  auto x = [&](double t) { return left + (t - t0) / (t1 - t0) * plot; };
  const double height = 40 + 3 * row + 30;
  std::string svg = "<svg id=\"timeline\" class=\"chart\" width=\"" + num(width, 0) +
                    "\" height=\"" + num(height, 0) + "\" xmlns=\"http://www.w3.org/2000/svg\">";
  svg += rect(0, 0, width, height, "#ffffff");
  const char* rows[] = {"run", "transitions", "events"};
  for (int i = 0; i < 3; ++i) {
    svg += text(10, 40 + i * row + row / 2 + 4, rows[i]);
    svg += rect(left, 40 + i * row + row - 1, plot, 1, "#e0e0e0");
  }
  // Axis: at most about twelve ticks, at a round number of seconds.
  double step = 1;
  for (double candidate : {1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0}) {
    step = candidate;
    if ((t1 - t0) / candidate <= 12) break;
  }
  for (double t = std::ceil(t0 / step) * step; t <= t1; t += step) {
    svg += rect(x(t), 30, 1, 3 * row + 10, "#eeeeee");
    svg += text(x(t), 24, num(t, 0) + " s", "middle", 11, "#666");
  }
  const std::map<std::string, const char*> phase_colours{{"baseline", "#9ecae1"},
                                                         {"apply", "#fdd0a2"},
                                                         {"patched", "#fdae6b"},
                                                         {"bake", "#c7e9c0"},
                                                         {"revert", "#dadaeb"}};
  for (const json& p : timeline.value("phases", json::array())) {
    const double a = x(number(p, "start")), b = x(number(p, "end"));
    const auto colour = phase_colours.find(str(p, "name"));
    svg += rect(a, 44, std::max(b - a, 2.0), row - 8,
                colour == phase_colours.end() ? "#cccccc" : colour->second,
                str(p, "label") + ": " + num(number(p, "end") - number(p, "start"), 2) + " s");
    // Only where it fits: about 6.5 px a character at this size.
    if (b - a > 8 + 6.5 * static_cast<double>(str(p, "label").size())) {
      svg += text(a + 4, 44 + row / 2, str(p, "label"), "start", 11);
    }
  }
  for (const json& t : timeline.value("transitions", json::array())) {
    const double a = x(number(t, "start")), b = x(number(t, "end"));
    const bool patching = str(t, "direction") == "patching";
    const std::string label = str(t, "direction") + " " + str(t, "result") + ", " +
                              num(number(t, "end") - number(t, "start"), 2) + " s, " +
                              num(number(t, "rounds"), 0) + " round(s)";
    svg += rect(a, 40 + row + 4, std::max(b - a, 8.0), row - 8, patching ? kPatching : kUnpatching,
                label);
    // Labels go right of the bar, or left of it near the end of the axis.
    if (b < width - 320) {
      svg += text(std::max(b, a + 8) + 4, 40 + row + row / 2 + 2, label, "start", 11);
    } else {
      svg += text(a - 4, 40 + row + row / 2 + 2, label, "end", 11);
    }
  }
  for (const json& e : timeline.value("events", json::array())) {
    const double at = x(number(e, "time"));
    const std::string kind = str(e, "kind");
    const char* colour = kind == "warning" ? kWarning : kind == "blocked" ? "#e6a100" : "#7f7f7f";
    const double w = kind == "warning" ? 8 : 4;
    svg += rect(at - w / 2, 40 + 2 * row + 4, w, row - 8, colour, str(e, "text"));
  }
  // Legend
  double lx = left;
  const std::pair<const char*, const char*> legend[] = {{kPatching, "patching transition"},
                                                        {kUnpatching, "unpatching transition"},
                                                        {kWarning, "kernel warning"},
                                                        {"#e6a100", "blocking task"},
                                                        {"#7f7f7f", "transition round"}};
  for (const auto& [colour, label] : legend) {
    svg += rect(lx, height - 18, 12, 12, colour);
    svg += text(lx + 16, height - 8, label, "start", 11);
    lx += 170;
  }
  return svg + "</svg>";
}

// Two bars, unpatched and patched, of one quantity.
std::string pair_bars(double x0, double y0, double w, double h, const std::string& title,
                      std::optional<double> unpatched, std::optional<double> patched,
                      const std::function<std::string(double)>& label) {
  std::string svg = text(x0, y0 + 14, title, "start", 12, "#111");
  const double top = y0 + 24, plot_h = h - 50;
  const double max = std::max({unpatched.value_or(0), patched.value_or(0), 1e-9});
  const double bar_w = (w - 40) / 2;
  int i = 0;
  for (const auto& [value, colour, name] :
       {std::tuple{unpatched, kUnpatched, "unpatched"}, std::tuple{patched, kPatched, "patched"}}) {
    const double bx = x0 + 10 + i * (bar_w + 20);
    if (value) {
      const double bh = std::max(*value / max * plot_h, *value > 0 ? 3.0 : 0.0);
      svg +=
          rect(bx, top + plot_h - bh, bar_w, bh, colour, std::string(name) + ": " + label(*value));
      svg += text(bx + bar_w / 2, top + plot_h - bh - 4, label(*value), "middle", 11);
    } else {
      svg += text(bx + bar_w / 2, top + plot_h - 4, "not measured", "middle", 11, "#999");
    }
    svg += text(bx + bar_w / 2, top + plot_h + 16, name, "middle", 11, "#555");
    ++i;
  }
  svg += rect(x0 + 5, top + plot_h, w - 20, 1, "#999999");
  return svg;
}

// Latency histograms (log2 ns buckets) of both phases, as grouped bars.
std::string histogram(double x0, double y0, double w, double h, const json& unpatched,
                      const json& patched) {
  std::map<std::uint64_t, std::pair<double, double>> slots;  // low -> (unpatched, patched) share
  auto add = [&](const json& phase, bool second) {
    if (!phase.is_object()) return;
    double total = 0;
    for (const json& s : phase.value("latency_ns", json::array())) total += number(s, "count");
    if (total <= 0) return;
    for (const json& s : phase.value("latency_ns", json::array())) {
      auto& slot = slots[s.value("low", std::uint64_t{0})];
      (second ? slot.second : slot.first) = number(s, "count") / total;
    }
  };
  add(unpatched, false);
  add(patched, true);
  std::string svg =
      text(x0, y0 + 14, "latency distribution (share of calls per bucket)", "start", 12, "#111");
  if (slots.empty()) return svg + text(x0, y0 + 40, "no timed calls", "start", 11, "#999");
  const double top = y0 + 24, plot_h = h - 50;
  const double group_w = (w - 10) / static_cast<double>(slots.size());
  const double bar_w = std::max(2.0, group_w / 2 - 2);
  double max = 0;
  for (const auto& [low, s] : slots) max = std::max({max, s.first, s.second});
  int i = 0;
  for (const auto& [low, s] : slots) {
    const double gx = x0 + 5 + i * group_w;
    const std::string bucket = "≥ " + human_ns(static_cast<double>(low));
    if (s.first > 0) {
      const double bh = std::max(s.first / max * plot_h, 2.0);
      svg += rect(gx, top + plot_h - bh, bar_w, bh, kUnpatched,
                  "unpatched " + bucket + ": " + num(s.first * 100) + "%");
    }
    if (s.second > 0) {
      const double bh = std::max(s.second / max * plot_h, 2.0);
      svg += rect(gx + bar_w + 1, top + plot_h - bh, bar_w, bh, kPatched,
                  "patched " + bucket + ": " + num(s.second * 100) + "%");
    }
    if (slots.size() <= 12 || i % 2 == 0) {
      svg += text(gx + group_w / 2, top + plot_h + 14, human_ns(static_cast<double>(low)), "middle",
                  10, "#555");
    }
    ++i;
  }
  svg += rect(x0 + 5, top + plot_h, w - 10, 1, "#999999");
  return svg;
}

std::optional<double> opt(const json& phase, const char* key) {
  if (!phase.is_object() || !phase.contains(key) || !phase[key].is_number()) return std::nullopt;
  return phase[key].get<double>();
}

std::string function_svg(const json& f, int index) {
  const double width = 1100, height = 230;
  std::string svg = "<svg id=\"function-" + std::to_string(index) +
                    "\" class=\"chart function-chart\" width=\"" + num(width, 0) + "\" height=\"" +
                    num(height, 0) + "\" xmlns=\"http://www.w3.org/2000/svg\">";
  svg += rect(0, 0, width, height, "#ffffff");
  svg += pair_bars(10, 10, 230, height - 10, "calls", opt(f["unpatched"], "calls"),
                   opt(f["patched"], "calls"), [](double v) { return num(v, 0); });
  svg += pair_bars(270, 10, 230, height - 10, "mean cost per call", opt(f["unpatched"], "mean_ns"),
                   opt(f["patched"], "mean_ns"), [](double v) { return human_ns(v); });
  svg += histogram(530, 10, 560, height - 10, f["unpatched"], f["patched"]);
  return svg + "</svg>";
}

const char* verdict_colour(const std::string& verdict) {
  if (verdict == "Successful") return "#2e7d32";
  if (verdict == "Failed") return "#b71c1c";
  if (verdict == "Inconclusive") return "#8d6e00";
  return "#455a64";
}

}  // namespace

std::string render_verify_html(const json& r) {
  std::ostringstream html;
  const std::string verdict = str(r, "verdict");
  const std::string patch = str(r["patch"], "module");
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       << "<title>lpmon verify: " << escape(patch) << " — " << escape(verdict) << "</title>"
       << "<style>body{font-family:sans-serif;margin:20px;color:#222;max-width:1120px}"
          "h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
          ".verdict{display:inline-block;color:#fff;padding:4px 12px;border-radius:4px}"
          "table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left;"
          "border-bottom:1px solid #eee;vertical-align:top}"
          "pre{background:#fff4f4;border-left:4px solid #d62728;padding:8px;overflow-x:auto;"
          "font-size:12px}.chart{display:block;border:1px solid #ddd;margin:8px 0}"
          ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}"
          "</style></head><body>\n";
  html << "<h1>lpmon verify: " << escape(patch) << " on " << escape(str(r["kernel"], "release"))
       << " <span class=\"verdict\" style=\"background:" << verdict_colour(verdict) << "\">"
       << escape(verdict) << " (exit " << r.value("exitCode", 3) << ")</span></h1>\n";
  html << "<p>" << escape(str(r, "message")) << "</p>\n";
  if (r.contains("reasons") && !r["reasons"].empty()) {
    html << "<ul>";
    for (const json& reason : r["reasons"]) {
      html << "<li><b>" << escape(str(reason, "phase")) << "</b>: " << escape(str(reason, "reason"))
           << "</li>";
    }
    html << "</ul>\n";
  }

  auto yes = [&](const char* key) {
    return r.contains(key) && r[key].is_boolean() && r[key].get<bool>() ? "yes" : "no";
  };
  const json& tr = r["transition"];
  html << "<table>";
  html << "<tr><th>patch</th><td>" << escape(str(r["patch"], "file")) << "</td></tr>";
  html << "<tr><th>kernel</th><td>" << escape(str(r["kernel"], "release")) << " from "
       << escape(str(r["kernel"], "source")) << ", " << escape(str(r["kernel"], "accel")) << " ("
       << escape(str(r["kernel"], "accel_reason")) << ")</td></tr>";
  html << "<tr><th>loaded / transitioned</th><td>" << yes("loaded") << " / " << yes("transitioned");
  if (tr.is_object() && tr.contains("duration_seconds") && tr["duration_seconds"].is_number()) {
    html << ", in " << num(tr["duration_seconds"].get<double>(), 2) << " s";
  }
  if (tr.is_object() && tr.contains("rounds")) html << ", " << tr["rounds"].dump() << " round(s)";
  html << "</td></tr>";
  if (tr.is_object() && tr.contains("blocking_tasks") && tr["blocking_tasks"].is_array()) {
    html << "<tr><th>tasks that held up a round</th><td>" << tr["blocking_tasks"].size();
    for (const json& t : tr["blocking_tasks"]) {
      if (t.is_object())
        html << " · " << escape(str(t, "comm")) << " (" << t.value("pid", 0) << ")";
    }
    html << "</td></tr>";
  }
  const json& taint = r["taint"];
  html << "<tr><th>taint</th><td>'" << escape(str(taint, "before_letters")) << "' before, '"
       << escape(str(taint, "end_letters")) << "' after</td></tr>";
  html << "<tr><th>kernel warnings</th><td>" << r.value("kernel_warnings", json::array()).size()
       << "</td></tr>";
  auto clean = [](const json& j) {
    return j.is_boolean() ? (j.get<bool>() ? "clean" : "NOT clean") : "not needed";
  };
  html << "<tr><th>revert / unload</th><td>" << clean(r["revert"]["clean"]) << " / "
       << clean(r["unload"]["clean"]) << "</td></tr>";
  html << "<tr><th>workload / bake</th><td>" << escape(str(r, "workload")) << " / "
       << r.value("bake_seconds", 0) << " s</td></tr>";
  html << "<tr><th>gate</th><td>" << escape(str(r, "gate_file"));
  if (r["gate"].is_object()) html << ": " << escape(str(r["gate"], "verdict"));
  html << "</td></tr>";
  if (r.contains("call_overhead") && r["call_overhead"].is_number()) {
    html << "<tr><th>call overhead</th><td>" << num(r["call_overhead"].get<double>() * 100)
         << "% (patched against unpatched cost per call, mean over the functions weighted by their "
            "calls)</td></tr>";
  }
  html << "</table>\n";

  html << "<h2>Timeline</h2>\n" << timeline_svg(r.value("timeline", json::object())) << "\n";

  html << "<h2>Patched functions</h2>\n<div class=\"legend\"><span style=\"background:"
       << kUnpatched << "\"></span>unpatched (before apply)<span style=\"background:" << kPatched
       << "\"></span>patched (after apply)</div>\n";
  if (r.contains("timing_note") && r["timing_note"].is_string()) {
    html << "<p><i>" << escape(r["timing_note"].get<std::string>()) << "</i></p>\n";
  }
  int index = 0;
  for (const json& f : r.value("calls", json::array())) {
    html << "<h3>" << escape(str(f, "function")) << " <small>[" << escape(str(f, "object")) << "]";
    if (f["overhead"].is_number()) {
      html << " · cost " << (f["overhead"].get<double>() >= 0 ? "+" : "")
           << num(f["overhead"].get<double>() * 100) << "%";
    }
    if (f.contains("exercised") && f["exercised"].is_string()) {
      html << " · workload: " << escape(f["exercised"].get<std::string>());
    }
    html << "</small></h3>\n" << function_svg(f, index++) << "\n";
  }
  if (index == 0) html << "<p>No patched function was observed.</p>\n";

  const json warnings = r.value("kernel_warnings", json::array());
  if (!warnings.empty()) {
    html << "<h2>Kernel warnings</h2>\n";
    for (const json& w : warnings) html << "<pre>" << escape(w.get<std::string>()) << "</pre>\n";
  }
  html << "<h2>Report (JSON)</h2>\n<details><summary>the whole report</summary><pre "
          "style=\"background:#f7f7f7;border-left-color:#999\">"
       << escape(r.dump(2, ' ', false, json::error_handler_t::replace)) << "</pre></details>\n";
  html << "</body></html>\n";
  return html.str();
}

}  // namespace lpmon::cli
