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
#include "option_values.hpp"

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

int run_and_report_gate(const gate::GateFile& file, const GateRequest& request,
                        gate::QueryBackend* prometheus, gate::Clock& clock, std::ostream& out,
                        std::ostream& err) {
  // With --json, stdout is one JSON document; progress goes to stderr for the pipeline's log.
  std::ostream& progress_out = request.json ? err : out;
  if (!request.json) {
    out << "gate " << file.source << ": " << file.checks.size()
        << (file.checks.size() == 1 ? " check" : " checks") << " against " << request.prometheus_url
        << ", at least " << gate::format_duration(file.shortest_run()) << "\n"
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
    if (const auto error = add_gate_arg(request.args, spec)) {
      err << "lpmon gate: --arg " << *error << '\n';
      return kInvalid;
    }
  }
  const auto query_timeout_value = positive_duration(query_timeout);
  if (!query_timeout_value) {
    err << "lpmon gate: --query-timeout '" << query_timeout
        << "': expected a duration such as 10s or 1m\n";
    return kInvalid;
  }
  request.engine.query_timeout = *query_timeout_value;
  if (!timeout.empty()) {
    const auto value = positive_duration(timeout);
    if (!value) {
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

  if (!loaded.has_query_checks()) {
    err << "lpmon gate: " << request.file.string()
        << " has only local checks, which lpmon apply evaluates on the host; lpmon gate runs "
           "query checks\n";
    return kInvalid;
  }
  if (prometheus.empty()) {
    err << "lpmon gate: --prometheus URL is required (or --dry-run)\n";
    return kInvalid;
  }
  if (request.engine.timeout && *request.engine.timeout < loaded.shortest_run()) {
    err << "lpmon gate: --timeout " << gate::format_duration(*request.engine.timeout)
        << " is shorter than the gate's shortest run ("
        << gate::format_duration(loaded.shortest_run()) << ")\n";
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
