#include "lpmon/rollout/preflight.hpp"

#include "lpmon/kernel_info.hpp"
#include "lpmon/patch_control.hpp"

namespace lpmon::rollout {

ExitCode module_file_exit_code(ModuleFileProblem problem) {
  switch (problem) {
    case ModuleFileProblem::unreadable:
      return ExitCode::unreadable_file;
    case ModuleFileProblem::not_a_module:
      return ExitCode::not_a_module;
    case ModuleFileProblem::corrupt:
      return ExitCode::corrupt_module;
  }
  return ExitCode::runtime_error;
}

ExitCode module_exit_code(const ModuleInfo& module, const VermagicCheck& kernel) {
  if (!module.livepatch) return ExitCode::not_livepatch;
  if (!kernel.matches) return ExitCode::kernel_mismatch;
  return ExitCode::ok;
}

std::string module_problem(const ModuleInfo& module, const VermagicCheck& kernel) {
  switch (module_exit_code(module, kernel)) {
    case ExitCode::not_livepatch:
      return module.file + ": a kernel module, but not a livepatch (no livepatch=Y in .modinfo)";
    case ExitCode::kernel_mismatch:
      return module.file + ": " + kernel.verdict;
    default:
      return "";
  }
}

std::variant<CheckedModule, Error> preflight(const std::filesystem::path& module,
                                             const KernelPaths& paths) {
  CheckedModule checked;
  try {
    checked.file = std::make_unique<ModuleFile>(module);
    ModuleInspector inspector(InspectOptions{.kernel_btf = std::nullopt, .paths = paths});
    checked.info = inspector.inspect(*checked.file);
  } catch (const ModuleFileError& error) {
    return Error{module_file_exit_code(error.problem()), error.what()};
  }
  const VermagicCheck kernel = check_vermagic(checked.info, kernel_release(paths));
  if (const ExitCode code = module_exit_code(checked.info, kernel); code != ExitCode::ok) {
    return Error{code, module_problem(checked.info, kernel)};
  }
  for (const std::string& dependency : checked.info.depends) {
    if (!module_loaded(paths, dependency)) {
      return Error{ExitCode::runtime_error,
                   module.string() + " depends on module " + dependency + ", which is not loaded"};
    }
  }
  return checked;
}

}  // namespace lpmon::rollout
