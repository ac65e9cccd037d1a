#pragma once

#include <memory>
#include <string>
#include <variant>

#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon/rollout/error.hpp"

namespace lpmon::rollout {

// The exit code of a module file that could not be inspected at all (7, 8 or 9).
ExitCode module_file_exit_code(ModuleFileProblem problem);

// ok for a livepatch built for the kernel; not_livepatch, else kernel_mismatch, otherwise.
ExitCode module_exit_code(const ModuleInfo& module, const VermagicCheck& kernel);

// The one line that explains a non-zero module_exit_code; empty when it is ok.
std::string module_problem(const ModuleInfo& module, const VermagicCheck& kernel);

// What lpmon apply loads: the open file, inspected once, a livepatch for the running kernel
// whose dependencies are loaded.
struct CheckedModule {
  std::unique_ptr<ModuleFile> file;
  ModuleInfo info;
};

// An Error refuses the module before anything was changed.
std::variant<CheckedModule, Error> preflight(const std::filesystem::path& module,
                                             const KernelPaths& paths);

}  // namespace lpmon::rollout
