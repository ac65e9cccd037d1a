#pragma once

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lpmon::build {

// The diff cannot become a livepatch, for a reason the user can act on; nothing was built.
class Refused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DiffBuildRequest {
  std::filesystem::path patch;  // unified diff against the release's source (-p1)
  std::string release;          // uname -r of the target kernel, e.g. 6.1.0-54-amd64
  std::string unit;             // names the work directory and the diff's functions table
  std::filesystem::path work;   // scratch directory for this build
  std::filesystem::path tools;  // lpmon's scripts (kernel-source.sh, kpatch-tools.sh)
  std::function<void(const std::string&)> progress;
};

// What one changed translation unit contributes to the patch.
struct DiffObject {
  std::string source;  // e.g. kernel/time/namespace.c
  std::string object;  // "vmlinux" or the module's name
  std::vector<std::string> changed_functions;
  std::vector<std::string> new_functions;
};

struct DiffBuild {
  std::vector<DiffObject> objects;  // with changes only
  // The functions klp replaces, as "object:function,sympos" in the order of the combined
  // .kpatch.funcs table of `output` (create-diff-object's documented layout).
  std::vector<std::string> functions;
  std::filesystem::path output;        // relocatable object with every changed function
  std::filesystem::path kbuild_tree;   // the prepared source tree to build the module in
  std::string compiler;                // CC the release was built with
  std::filesystem::path kpatch_tools;  // create-diff-object and create-klp-module
  std::vector<std::string> cves;       // named in the diff's header
  std::vector<std::string> notes;      // what had to be guessed
};

// The release's prepared source cache (kernel-source.sh): linux/, kernel/, vmlinux.
// Throws Refused when the release's source or compiler is not available.
std::filesystem::path prepare_release(const std::filesystem::path& scripts,
                                      const std::string& release);

// CVE ids named in a diff's header (the text before the first file).
std::vector<std::string> cves_in_diff_header(const std::filesystem::path& patch);

// Builds the changed functions of `patch` for `release`: prepares the release's source once
// (cached), compiles each changed file before and after the diff with function sections,
// checks the before-object against the shipped binary, and runs kpatch's create-diff-object.
// Throws Refused when the diff cannot be livepatched safely, std::runtime_error on failures.
DiffBuild build_diff(const DiffBuildRequest& request);

// create-klp-module: turns the klp relocation records of a linked patch module into the
// .klp.rela/.klp.sym sections the kernel's livepatch core resolves at load time.
void finish_klp_module(const std::filesystem::path& tools, const std::filesystem::path& ko);

}  // namespace lpmon::build
