#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "lpmon/kernel_paths.hpp"
#include "lpmon/module_inspector.hpp"

namespace lpmon {

// The only writes lpmon makes to the kernel's livepatch state. Each throws KernelError with one
// line naming what failed and the likely reason; the kernel log often says more (KernelLog).

// Whether /sys/module/<module> exists: the module is loaded (or built in).
bool module_loaded(const KernelPaths& paths, std::string_view module);

// Loads the open module file (finit_module on its descriptor, no parameters): the file that was
// inspected, not what its path names now. For a livepatch this enables the patch and starts its
// transition before the call returns.
void load_module(const ModuleFile& file);

// Whether the loaded module is a livepatch: the kernel taints livepatch modules with 'K'
// (TAINT_LIVEPATCH), shown in /sys/module/<module>/taint. False when that cannot be read.
bool module_is_livepatch(const KernelPaths& paths, std::string_view module);

// The loaded module's build: /sys/module/<module>/srcversion (the hash of its sources that
// modpost puts in .modinfo, shown for every module on kernels with MODULE_SRCVERSION_ALL, as
// Debian's). nullopt when the module is not loaded or shows none.
std::optional<std::string> module_srcversion(const KernelPaths& paths, std::string_view module);

// Writes 0 to the patch's `enabled`: starts the unpatching transition, or reverses the
// transition in progress when that is the patch's own.
void disable_patch(const KernelPaths& paths, std::string_view patch);

// Writes 1 to the patch's `force`: marks every task switched, safe or not. The patches the
// transition takes away (the one being disabled, or those an atomic replace supersedes) are
// marked forced, and their modules can never be unloaded (6.1's klp_force_transition). Only
// on the user's explicit request.
void force_transition(const KernelPaths& paths, std::string_view patch);

// Removes a module that nobody uses (delete_module with O_NONBLOCK): a livepatch whose patch is
// still enabled or in transition is refused by the kernel (EBUSY), never waited for.
void unload_module(std::string_view module);

}  // namespace lpmon
