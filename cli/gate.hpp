#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "lpmon/gate/engine.hpp"
#include "lpmon/gate/gate_file.hpp"

namespace lpmon::cli {

// `lpmon gate` once its command line is read.
struct GateRequest {
  std::filesystem::path file;
  std::map<std::string, std::string> args;
  std::string prometheus_url;  // for reports; the backend is built from it
  bool json = false;
  bool dry_run = false;
  gate::EngineOptions engine;
};

// Runs `lpmon gate` with its arguments (those after "gate"); returns a GateExitCode.
int run_gate_command(std::vector<std::string> args, std::ostream& out, std::ostream& err);

// Runs a loaded gate (gate::run_gate) against `prometheus` (may be null: only local checks) on
// `clock`, prints progress and the report, and returns the GateExitCode of the verdict. Tests call
// it with a fake backend and clock.
int run_and_report_gate(const gate::GateFile& gate, const GateRequest& request,
                        gate::QueryBackend* prometheus, gate::Clock& clock, std::ostream& out,
                        std::ostream& err);

// What --dry-run prints.
std::string format_plan(const gate::GateFile& gate);
nlohmann::json plan_json(const gate::GateFile& gate);

// One progress line (more for a measurement that did not succeed: the series behind it).
std::string format_measurement(const gate::CheckResult& check, const gate::Measurement& m);
std::string format_report(const gate::GateReport& report);
nlohmann::json report_json(const gate::GateReport& report, const GateRequest& request);

int exit_code_of(gate::Phase verdict);

}  // namespace lpmon::cli
