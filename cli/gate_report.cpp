// lpmon gate's output: the plan (--dry-run), progress lines, the report, in text and JSON.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "gate.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::cli {
namespace {

using gate::CheckResult;
using gate::CheckSpec;
using gate::Measurement;
using gate::Phase;
using nlohmann::json;

// "19:09:45Z": the time of day of a measurement, for progress lines.
std::string clock_time(std::chrono::system_clock::time_point t) {
  return utc_timestamp(t, 0).substr(11);
}

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::ostringstream out;
  out.precision(15);
  out << value;
  return out.str();
}

json json_number(double value) {
  if (std::isfinite(value)) return value;
  return number(value);  // as Prometheus writes them; JSON has no NaN
}

std::string values_text(const std::vector<double>& values) {
  constexpr std::size_t kShown = 10;
  std::string text = "[";
  for (std::size_t i = 0; i < values.size() && i < kShown; ++i) {
    text += (i ? ", " : "") + number(values[i]);
  }
  if (values.size() > kShown) text += ", ... " + std::to_string(values.size()) + " values";
  return text + "]";
}

std::string labels_text(const std::map<std::string, std::string>& labels) {
  std::string text = "{";
  for (const auto& [name, value] : labels) {
    text += (text.size() > 1 ? ", " : "") + name + "=\"" + value + "\"";
  }
  return text + "}";
}

std::string what_text(const CheckSpec& check) {
  if (const gate::LocalCheck* local = check.local()) {
    std::string text = std::string("local ") + gate::to_string(local->kind);
    switch (local->kind) {
      case gate::LocalCheck::Kind::transition_finished:
        text += " within " + gate::format_duration(local->within);
        break;
      case gate::LocalCheck::Kind::no_new_taint: {
        std::string allowed;
        for (const TaintFlag& flag : Taint{local->allowed_taint}.flags()) {
          allowed += (allowed.empty() ? "" : ", ") + std::string(flag.name);
        }
        text += " (allowed: " + (allowed.empty() ? "none" : allowed) + ")";
        break;
      }
      case gate::LocalCheck::Kind::call_overhead:
        text += " at most " + number(local->max_overhead * 100) + "%";
        break;
      case gate::LocalCheck::Kind::no_blocking_tasks:
        break;
    }
    return text;
  }
  return "query";
}

std::string schedule_text(const CheckSpec& check) {
  std::string text;
  if (check.initial_delay.count() > 0) {
    text += "after " + gate::format_duration(check.initial_delay) + ", ";
  }
  text += std::to_string(check.count) + (check.count == 1 ? " measurement" : " measurements");
  if (check.count > 1) text += " every " + gate::format_duration(check.interval);
  return text;
}

std::string limit_text(int limit) {
  return limit < 0 ? "none" : std::to_string(limit);
}

json check_plan_json(const CheckSpec& check) {
  json j{{"name", check.name},
         {"line", check.line},
         {"initialDelay", gate::format_duration(check.initial_delay)},
         {"interval", gate::format_duration(check.interval)},
         {"count", check.count},
         {"failureLimit", check.failure_limit},
         {"inconclusiveLimit", check.inconclusive_limit},
         {"consecutiveErrorLimit", check.consecutive_error_limit}};
  if (const gate::PromQuery* query = check.prometheus()) {
    j["query"] = query->query;
    if (query->success_condition) j["successCondition"] = query->success_condition->source();
    if (query->failure_condition) j["failureCondition"] = query->failure_condition->source();
  } else {
    j["local"] = gate::to_string(check.local()->kind);
    j["summary"] = what_text(check);
  }
  return j;
}

}  // namespace

int exit_code_of(Phase verdict) {
  switch (verdict) {
    case Phase::successful:
      return to_int(GateExitCode::pass);
    case Phase::failed:
      return to_int(GateExitCode::fail);
    case Phase::inconclusive:
      return to_int(GateExitCode::inconclusive);
    default:
      return to_int(GateExitCode::error);
  }
}

std::string format_plan(const gate::GateFile& file) {
  std::ostringstream out;
  out << "gate " << file.source << ": " << file.checks.size()
      << (file.checks.size() == 1 ? " check" : " checks") << ", at least "
      << gate::format_duration(file.shortest_run()) << "\n";
  if (!file.description.empty()) out << "  " << file.description << "\n";
  for (const auto& [name, value] : file.arg_values)
    out << "  arg " << name << " = " << value << "\n";
  for (const CheckSpec& check : file.checks) {
    out << "  " << check.name << ": " << what_text(check) << ", " << schedule_text(check) << "\n";
    if (const gate::PromQuery* query = check.prometheus()) {
      out << "    query:            " << query->query << "\n";
      if (query->success_condition) {
        out << "    successCondition: " << query->success_condition->source() << "\n";
      }
      if (query->failure_condition) {
        out << "    failureCondition: " << query->failure_condition->source() << "\n";
      }
    } else {
      out << "    evaluated on the host by lpmon apply; lpmon gate skips it\n";
    }
    out << "    limits:           failures " << limit_text(check.failure_limit) << ", inconclusive "
        << limit_text(check.inconclusive_limit) << ", consecutive errors "
        << check.consecutive_error_limit << "\n";
  }
  return out.str();
}

json plan_json(const gate::GateFile& file) {
  json j{{"gate", file.source},
         {"dryRun", true},
         {"description", file.description},
         {"args", file.arg_values},
         {"shortestRun", gate::format_duration(file.shortest_run())},
         {"checks", json::array()}};
  for (const CheckSpec& check : file.checks) j["checks"].push_back(check_plan_json(check));
  return j;
}

std::string format_measurement(const CheckResult& check, const Measurement& m) {
  std::ostringstream out;
  out << clock_time(m.finished_at) << "  " << check.spec->name << "  #" << check.measurements.size()
      << " " << gate::to_string(m.phase);
  if (m.phase != Phase::error) out << " " << values_text(m.value);
  if (!m.message.empty()) out << "  " << m.message;
  out << "\n";
  if (m.phase != Phase::successful && !m.series.empty()) {
    constexpr std::size_t kShown = 5;
    for (std::size_t i = 0; i < m.series.size() && i < kShown; ++i) {
      out << "      " << labels_text(m.series[i].labels) << " " << values_text(m.series[i].values)
          << "\n";
    }
    if (m.series.size() > kShown) out << "      ... " << m.series.size() << " series\n";
  }
  if (check.finished) {
    out << clock_time(m.finished_at) << "  " << check.spec->name << "  => "
        << gate::to_string(check.phase) << ": " << check.message << "\n";
  }
  return out.str();
}

std::string format_report(const gate::GateReport& report) {
  std::ostringstream out;
  out << "verdict: " << gate::to_string(report.verdict) << " (exit " << exit_code_of(report.verdict)
      << ")";
  if (report.verdict != Phase::successful && !report.message.empty()) {
    out << ": " << report.message;
  }
  out << "\n";
  std::size_t width = 0;
  for (const CheckResult& check : report.checks) width = std::max(width, check.spec->name.size());
  for (const CheckResult& check : report.checks) {
    std::string phase(gate::to_string(check.phase));
    out << "  " << check.spec->name << std::string(width - check.spec->name.size() + 2, ' ')
        << phase << std::string(14 - std::min<std::size_t>(phase.size(), 13), ' ');
    if (check.measurements.empty()) {
      out << check.message;
    } else {
      out << check.count << "/" << check.spec->count << " measured: " << check.successful
          << " successful, " << check.failed << " failed, " << check.inconclusive
          << " inconclusive, " << check.errors << " errors";
      if (check.phase != Phase::successful) out << "; " << check.message;
    }
    out << "\n";
  }
  return out.str();
}

json report_json(const gate::GateReport& report, const GateRequest& request) {
  json j{{"gate", request.file.string()},
         {"verdict", gate::to_string(report.verdict)},
         {"exitCode", exit_code_of(report.verdict)},
         {"message", report.message},
         {"prometheus", request.prometheus_url},
         {"startedAt", utc_timestamp(report.started_at)},
         {"finishedAt", utc_timestamp(report.finished_at)},
         {"args", request.args},
         {"checks", json::array()}};
  for (const CheckResult& check : report.checks) {
    json c = check_plan_json(*check.spec);
    c["phase"] = gate::to_string(check.phase);
    c["message"] = check.message;
    c["measured"] = check.count;
    c["successful"] = check.successful;
    c["failed"] = check.failed;
    c["inconclusive"] = check.inconclusive;
    c["errors"] = check.errors;
    c["measurements"] = json::array();
    for (const Measurement& m : check.measurements) {
      json value = json::array();
      for (double v : m.value) value.push_back(json_number(v));
      json series = json::array();
      for (const gate::Series& s : m.series) {
        json values = json::array();
        for (double v : s.values) values.push_back(json_number(v));
        series.push_back({{"labels", s.labels}, {"values", values}});
      }
      c["measurements"].push_back({{"startedAt", utc_timestamp(m.started_at)},
                                   {"finishedAt", utc_timestamp(m.finished_at)},
                                   {"phase", gate::to_string(m.phase)},
                                   {"value", value},
                                   {"series", series},
                                   {"message", m.message}});
    }
    j["checks"].push_back(std::move(c));
  }
  return j;
}

}  // namespace lpmon::cli
