#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace lpmon::cli {

struct BuildOptions {
  std::vector<std::filesystem::path> fix_dirs;
  std::string name;
  unsigned version = 1;
  std::vector<std::string> exclude_cves;
  std::optional<std::filesystem::path> kdir;        // default /lib/modules/$(uname -r)/build
  std::optional<std::filesystem::path> kernel_btf;  // vmlinux or raw BTF of the target kernel
  std::map<std::string, std::filesystem::path> object_btf;  // module object -> its .ko
  std::vector<std::filesystem::path> include_dirs;          // headers the fixes include
  std::optional<std::filesystem::path> output;              // default ./<name>
  bool generate_only = false;
  bool json = false;
  // From a source diff (lpmon build --diff): the diff, the releases to build it for (one
  // module each, from the release's cached Debian source), CVE ids it fixes.
  std::optional<std::filesystem::path> diff;
  std::vector<std::string> kernels;
  std::vector<std::string> cves;
  std::filesystem::path scripts;  // where kernel-source.sh and kpatch-tools.sh are
};

// `lpmon build`: from fix units to a cumulative livepatch module (see kmod/fixes/README.md).
// Every check runs before anything is written; returns an exit code.
int run_build(const BuildOptions& options, std::ostream& out, std::ostream& err);

}  // namespace lpmon::cli
