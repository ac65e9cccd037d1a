#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lpmon::build {

// A fix unit or a build request is wrong. The message names the file (and line) or the
// argument and says what to change; nothing has been built.
class BuildError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FixFunction {
  std::string name;         // the function replaced
  std::string replacement;  // defined in fix.c (empty for a diff unit's functions)
  unsigned long sympos = 0;
  // Diff units: the function's entry in create-diff-object's table lpmon_funcs_<table>.
  std::string table;
  std::size_t table_index = 0;
};

// One fix: kmod/fixes/<id>/fix.yaml with fix.c, or with fix.patch (a source diff that
// lpmon build --diff turns into functions; see kmod/fixes/README.md).
struct FixUnit {
  std::string id;  // the directory's name
  std::filesystem::path dir;
  std::string summary;
  std::vector<std::string> cves;
  unsigned since = 1;
  std::string object;  // "vmlinux" or a module name
  std::vector<FixFunction> functions;
  std::map<std::string, std::string> callbacks;  // pre_patch, post_patch, ... -> function
  std::filesystem::path patch;  // fix.patch of a diff unit (object and functions come from it)
  std::filesystem::path diff_object;  // built from `patch`, linked into the module
};

// A diff unit's object and functions once its diff is built (functions: object:name[,pos]
// in table order).
void attach_diff_build(FixUnit& unit, const std::vector<std::string>& functions,
                       const std::filesystem::path& diff_object);

// Every fix unit in the given directories (each subdirectory with a fix.yaml), sorted by id.
// Throws BuildError with file:line for malformed or unknown keys and duplicate ids.
std::vector<FixUnit> load_fix_units(const std::vector<std::filesystem::path>& dirs);

// Which fix units one release carries once the caller's exclusions apply.
struct FixSelection {
  std::vector<FixUnit> included;
  std::vector<FixUnit> excluded;  // carried by the release but left out for an excluded CVE
  std::vector<std::string> cves_fixed;
  std::vector<std::string> cves_excluded;
};

// The fixes with since <= version, less those addressing an excluded CVE. Throws BuildError
// when an excluded CVE is not addressed by any of them (a typo would silently exclude
// nothing) or when nothing is left.
FixSelection select_fixes(const std::vector<FixUnit>& units, unsigned version,
                          const std::vector<std::string>& exclude_cves);

struct PatchMetadata {
  std::string name;  // module and patch name
  unsigned version = 1;
  std::string target_release;  // uname -r of the kernel it is built for
  std::string built_at;        // ISO 8601 UTC
};

// The patch module's C source: the fix units' code, per-object klp_func arrays, combined
// callbacks, klp_patch with replace = true, and the metadata in .modinfo and as read-only
// module parameters (/sys/module/<name>/parameters/). Fix sources are included as
// "<id>.fix.c" from the same directory.
std::string generate_patch_source(const FixSelection& selection, const PatchMetadata& metadata);

}  // namespace lpmon::build
