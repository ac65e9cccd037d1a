#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "lpmon/gate/engine.hpp"
#include "lpmon/gate/gate_file.hpp"

namespace lpmon::cli {

// What `lpmon verify` knew before the boot, for the report.
struct VerifyRun {
  std::string patch_file;
  std::string patch_name;
  std::string release;        // the kernel booted (the module's vermagic release)
  std::string kernel_source;  // "package linux-image-...", or the --kernel file
  std::string accel;          // "kvm" or "tcg"
  std::string accel_reason;   // why
  std::string gate_file;      // "(default)" for lpmon's own
  std::string workload;       // "default" or the --workload script
  int bake_seconds = 0;
  double guest_seconds = 0;     // the whole guest run, boot to power-off
  bool guest_finished = false;  // the guest script ran to its end
  std::string guest_dir;        // logs and artefacts
  std::string guest_log_tail;   // when it did not finish: its last lines
  std::string console_crash;    // crash text from the serial console, if any
};

// Reads what the guest left in `artifacts` (see cli/verify/verify-guest.sh), evaluates the gate
// again over the whole run (the bake included) and decides. The JSON report's fields are listed
// in README.md's lpmon verify section; "exitCode" is the GateExitCode of "verdict".
nlohmann::json build_verify_report(const VerifyRun& run, const std::filesystem::path& artifacts,
                                   const gate::GateFile& gate);

// Kernel warnings, BUGs and oopses in `log` (dmesg text), each with the lines that follow it up
// to its "---[ end trace" (at most 40).
std::vector<std::string> kernel_reports(const std::string& log);

// The report as text for a terminal, and as a self-contained HTML page (inline SVG charts: the
// run's timeline and, per patched function, its calls and cost unpatched against patched).
std::string format_verify_text(const nlohmann::json& report);
std::string render_verify_html(const nlohmann::json& report);

// Empties and recreates `root`/`name` for one run. `name` comes from a module file: it must be
// one plain path component, and the directory resolved must lie inside `root`; otherwise
// nothing is removed and the error says why. Returns the directory.
std::filesystem::path fresh_work_dir(const std::filesystem::path& root, const std::string& name);

// Runs `lpmon verify` with its arguments (those after "verify"); returns the exit code.
int run_verify_command(std::vector<std::string> args, std::ostream& out, std::ostream& err);

}  // namespace lpmon::cli
