#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lpmon/build/fix_units.hpp"

namespace lpmon::build {

// Where and how one release's patch module is built.
struct ModuleBuild {
  std::filesystem::path dir;   // output directory: sources, Kbuild file, the module
  std::filesystem::path kdir;  // the Kbuild tree of the target kernel
  std::string release;         // its uname -r
  std::string compiler;        // CC to build with (diff units: the release's); empty: Kbuild's
  std::filesystem::path kernel_btf;    // vmlinux with BTF, for the module's BTF (fix.c only)
  std::filesystem::path kpatch_tools;  // create-klp-module (diff units)
  std::vector<std::filesystem::path> include_dirs;  // headers the fix.c units include
  bool generate_only = false;                       // write the sources, do not run Kbuild
};

struct ModuleResult {
  std::filesystem::path ko;
  std::vector<std::string> klp_symbols;  // object.symbol,position resolved at load time
  std::vector<std::string> warnings;
};

// Writes the patch module's sources (fix.c units included, diff units' objects linked in),
// runs Kbuild, and for diff units create-klp-module. Throws std::runtime_error with the
// end of build.log when Kbuild fails.
ModuleResult build_patch_module(const FixSelection& selection, const PatchMetadata& metadata,
                                const ModuleBuild& build);

}  // namespace lpmon::build
