#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lpmon/util/process.hpp"

namespace lpmon::build {

// The object differ that turns a translation unit built before and after a diff into the
// changed functions and their klp relocations. One interface, chosen per kernel: kpatch's
// create-diff-object serves kernels before 6.19; the kernel's own `objtool klp diff` (6.19+)
// would be a second implementation (it needs the kernel's objtool of that release).
class Differ {
 public:
  virtual ~Differ() = default;
  virtual std::string name() const = 0;
  // Brings an object built with function sections to the form the shipped kernel's objects
  // had when they were linked (objtool's pass, where the kernel runs it at link time).
  virtual void prepare_object(const std::filesystem::path& object, bool in_module) const = 0;
  // The symbol table of the -dbg vmlinux in the form the differ reads.
  virtual std::string vmlinux_symbols(const std::filesystem::path& vmlinux_dbg) const = 0;
  // Exit 0: `out` has the changed functions; 3: no functional change; else refused (log).
  virtual ProcessResult diff(const std::filesystem::path& orig,
                             const std::filesystem::path& patched, const std::string& owner,
                             const std::filesystem::path& symbols,
                             const std::filesystem::path& symvers, const std::string& unit,
                             const std::filesystem::path& out) const = 0;
  // Makes the differ's output ready to be linked into a patch module by Kbuild.
  virtual void finish_object(const std::filesystem::path& out) const = 0;
  // Where the differ's tools are (create-klp-module finishes the module).
  virtual std::filesystem::path tools() const = 0;
};

// The kernel version of a prepared source tree (its Makefile's VERSION.PATCHLEVEL).
struct KernelVersion {
  int major = 0, minor = 0;
  bool at_least(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
};
KernelVersion tree_version(const std::filesystem::path& tree);

// The differ for the prepared tree of `release`. Throws Refused for kernels no differ
// lpmon drives can serve. `sizes` are the special-section struct sizes of the release.
std::unique_ptr<Differ> choose_differ(const std::filesystem::path& scripts,
                                      const std::filesystem::path& tree, const std::string& release,
                                      const std::vector<std::string>& sizes);

}  // namespace lpmon::build
