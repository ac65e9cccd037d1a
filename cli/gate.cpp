#include "gate.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "command.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/gate/prometheus_client.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using gate::CheckResult;
using gate::CheckSpec;
using gate::Measurement;
using gate::Phase;
using nlohmann::json;

constexpr int kInvalid = to_int(GateExitCode::invalid_input);

std::string gate_footer() {
  return exit_codes_footer("Exit codes (lpmon gate's own, unlike other lpmon commands):\n",
                           kGateExitCodeDocs) +
         "The gate file's format: docs/gate.md.";
}

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

gate::Duration shortest_run(const gate::GateFile& file) {
  gate::Duration longest{0};
  for (const CheckSpec& check : file.checks) longest = std::max(longest, check.shortest_run());
  return longest;
}

bool has_query_checks(const gate::GateFile& file) {
  return std::any_of(file.checks.begin(), file.checks.end(),
                     [](const CheckSpec& c) { return c.prometheus() != nullptr; });
}

std::optional<std::string> read_secret(const fs::path& file, std::ostream& err) {
  std::ifstream in(file);
  std::string secret;
  if (!in || !std::getline(in, secret)) {
    err << "lpmon gate: cannot read the password from " << file.string() << '\n';
    return std::nullopt;
  }
  if (secret.ends_with('\r')) secret.pop_back();
  return secret;
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
      << gate::format_duration(shortest_run(file)) << "\n";
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
         {"shortestRun", gate::format_duration(shortest_run(file))},
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

int run_and_report_gate(const gate::GateFile& file, const GateRequest& request,
                        gate::QueryBackend* prometheus, gate::Clock& clock, std::ostream& out,
                        std::ostream& err) {
  // With --json, stdout is one JSON document; progress goes to stderr for the pipeline's log.
  std::ostream& progress_out = request.json ? err : out;
  if (!request.json) {
    out << "gate " << file.source << ": " << file.checks.size()
        << (file.checks.size() == 1 ? " check" : " checks") << " against " << request.prometheus_url
        << ", at least " << gate::format_duration(shortest_run(file)) << "\n"
        << std::flush;
  }
  const gate::GateReport report =
      gate::run_gate(file, prometheus, nullptr, clock, request.engine,
                     [&](const CheckResult& check, const Measurement& m) {
                       progress_out << format_measurement(check, m) << std::flush;
                     });
  if (!report.prometheus_error.empty()) {
    err << "lpmon gate: error: " << report.prometheus_error << "; no measurement was taken\n";
  }
  if (request.json) {
    out << report_json(report, request).dump(2) << '\n';
  } else if (report.prometheus_error.empty()) {
    out << format_report(report);
  }
  return exit_code_of(report.verdict);
}

namespace {

int parse_and_run(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "Decide whether a livepatch rollout may go on: run a gate file's PromQL checks "
      "against Prometheus, as Argo Rollouts' analysis does.",
      "lpmon gate"};
  app.footer(gate_footer());
  app.get_formatter()->column_width(36);
  std::string file;
  std::string prometheus;
  std::vector<std::string> arg_specs;
  bool json_output = false;
  bool dry_run = false;
  std::string timeout;
  std::string query_timeout = "30s";
  std::string user;
  std::string password_file;
  std::string ca_file;
  bool insecure = false;
  app.add_option("FILE", file, "The gate file (docs/gate.md)")->required();
  app.add_option("--prometheus", prometheus, "Prometheus' URL, e.g. http://prometheus:9090")
      ->type_name("URL");
  // One value per --arg, so that `--arg a=1 wave.yaml` leaves the file to FILE.
  app.add_option("--arg", arg_specs, "Value of a gate arg, {{args.NAME}} (repeatable)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
  app.add_flag("--json", json_output, "Print the report (or plan) as JSON; progress to stderr");
  app.add_option("--timeout", timeout, "End the gate after D (unfinished checks: Error)")
      ->type_name("D");
  app.add_option("--query-timeout", query_timeout, "Wait at most D for each query")
      ->type_name("D")
      ->capture_default_str();
  app.add_flag("--dry-run", dry_run, "Validate the file and print the plan; query nothing");
  app.add_option("--prometheus-user", user, "HTTP basic auth user")->group("Prometheus access");
  app.add_option("--prometheus-password-file", password_file,
                 "File holding the basic auth password")
      ->type_name("FILE")
      ->group("Prometheus access");
  app.add_option("--ca-file", ca_file, "CA certificates to verify Prometheus' TLS certificate")
      ->type_name("FILE")
      ->group("Prometheus access");
  app.add_flag("--insecure-skip-verify", insecure, "Do not verify Prometheus' TLS certificate")
      ->group("Prometheus access");

  std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return to_int(GateExitCode::pass);
  } catch (const CLI::ParseError& e) {
    err << "lpmon gate: " << e.what() << "\nRun lpmon gate --help for the options.\n";
    return kInvalid;
  }

  GateRequest request;
  request.file = file;
  request.json = json_output;
  request.dry_run = dry_run;
  request.prometheus_url = prometheus;
  for (const std::string& spec : arg_specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      err << "lpmon gate: --arg '" << spec << "': expected NAME=VALUE\n";
      return kInvalid;
    }
    if (!request.args.emplace(spec.substr(0, eq), spec.substr(eq + 1)).second) {
      err << "lpmon gate: --arg " << spec.substr(0, eq) << " is given twice\n";
      return kInvalid;
    }
  }
  const auto query_timeout_value = gate::parse_duration(query_timeout);
  if (!query_timeout_value || query_timeout_value->count() == 0) {
    err << "lpmon gate: --query-timeout '" << query_timeout
        << "': expected a duration such as 10s or 1m\n";
    return kInvalid;
  }
  request.engine.query_timeout = *query_timeout_value;
  if (!timeout.empty()) {
    const auto value = gate::parse_duration(timeout);
    if (!value || value->count() == 0) {
      err << "lpmon gate: --timeout '" << timeout << "': expected a duration such as 10m\n";
      return kInvalid;
    }
    request.engine.timeout = *value;
  }

  gate::GateFile loaded;
  try {
    loaded = gate::load_gate_file(request.file, request.args);
  } catch (const gate::GateFileError& e) {
    err << "lpmon gate: " << e.what() << '\n';
    return kInvalid;
  }
  if (request.dry_run) {
    if (request.json) {
      out << plan_json(loaded).dump(2) << '\n';
    } else {
      out << format_plan(loaded);
    }
    return to_int(GateExitCode::pass);
  }

  if (!has_query_checks(loaded)) {
    err << "lpmon gate: " << request.file.string()
        << " has only local checks, which lpmon apply evaluates on the host; lpmon gate runs "
           "query checks\n";
    return kInvalid;
  }
  if (prometheus.empty()) {
    err << "lpmon gate: --prometheus URL is required (or --dry-run)\n";
    return kInvalid;
  }
  if (request.engine.timeout && *request.engine.timeout < shortest_run(loaded)) {
    err << "lpmon gate: --timeout " << gate::format_duration(*request.engine.timeout)
        << " is shorter than the gate's shortest run ("
        << gate::format_duration(shortest_run(loaded)) << ")\n";
    return kInvalid;
  }
  gate::PrometheusOptions access{prometheus, std::nullopt, std::nullopt, std::nullopt, insecure};
  if (!password_file.empty() && user.empty()) {
    err << "lpmon gate: --prometheus-password-file needs --prometheus-user\n";
    return kInvalid;
  }
  if (!user.empty()) {
    access.user = user;
    if (!password_file.empty()) {
      access.password = read_secret(password_file, err);
      if (!access.password) return kInvalid;
    }
  }
  if (!ca_file.empty()) {
    if (!fs::is_regular_file(ca_file)) {
      err << "lpmon gate: --ca-file " << ca_file << ": no such file\n";
      return kInvalid;
    }
    access.ca_file = ca_file;
  }

  std::unique_ptr<gate::PrometheusClient> client;
  try {
    client = std::make_unique<gate::PrometheusClient>(access);
  } catch (const gate::QueryError& e) {
    err << "lpmon gate: --prometheus: " << e.what() << '\n';
    return kInvalid;
  }
  gate::SystemClock clock;
  return run_and_report_gate(loaded, request, client.get(), clock, out, err);
}

}  // namespace

int run_gate_command(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  try {
    return parse_and_run(std::move(args), out, err);
  } catch (const std::exception& e) {
    // Whatever went wrong, it is no verdict on the patch: never report it as a failure.
    err << "lpmon gate: error: " << e.what() << '\n';
    return to_int(GateExitCode::error);
  }
}

Command add_gate_command(CLI::App& lpmon) {
  // The shared parser maps every parse error to exit 2, which for a gate means Inconclusive.
  // So this subcommand takes its arguments raw and run_gate_command parses them itself,
  // reporting wrong input as 6.
  CLI::App* gate = lpmon.add_subcommand(
      "gate",
      "Decide whether a rollout may go on: PromQL checks against Prometheus (own exit codes)");
  gate->prefix_command();
  gate->allow_extras();
  gate->set_help_flag();
  return {gate, [gate](std::ostream& out, std::ostream& err) {
            return run_gate_command(gate->remaining(), out, err);
          }};
}

}  // namespace lpmon::cli
