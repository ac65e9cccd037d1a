#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "lpmon/exit_codes.hpp"
#include "lpmon/module_inspector.hpp"

namespace lpmon::cli {

// Everything `lpmon inspect` shows about one module file.
struct InspectReport {
  ModuleInfo module;
  std::string kernel_release;  // the kernel it is checked against
  VermagicCheck kernel;
};

// ok for a livepatch built for the kernel; not_livepatch, else kernel_mismatch, otherwise.
ExitCode inspect_exit_code(const InspectReport& report);

// The one line for stderr that explains a non-zero inspect_exit_code; empty when it is 0.
std::string inspect_problem(const InspectReport& report);

nlohmann::json inspect_to_json(const InspectReport& report);

// Aligned "Label: value" lines, like modinfo and kpatch info.
std::string render_inspect_text(const InspectReport& report);

}  // namespace lpmon::cli
