#include "lpmon/kernel_info.hpp"

#include <array>

#include "kernel_file.hpp"
#include "lpmon/errors.hpp"

namespace lpmon {
namespace {

// Documentation/admin-guide/tainted-kernels.rst; names are the TAINT_* macros in
// include/linux/panic.h.
constexpr std::array<TaintFlag, 20> kTaintFlags{{
    {0, 'P', "proprietary_module", "proprietary module was loaded"},
    {1, 'F', "forced_module", "module was force loaded"},
    {2, 'S', "cpu_out_of_spec", "kernel running on an out of specification system"},
    {3, 'R', "forced_rmmod", "module was force unloaded"},
    {4, 'M', "machine_check", "processor reported a Machine Check Exception (MCE)"},
    {5, 'B', "bad_page", "bad page referenced or some unexpected page flags"},
    {6, 'U', "user", "taint requested by userspace application"},
    {7, 'D', "die", "kernel died recently, i.e. there was an OOPS or BUG"},
    {8, 'A', "overridden_acpi_table", "ACPI table overridden by user"},
    {9, 'W', "warn", "kernel issued warning"},
    {10, 'C', "crap", "staging driver was loaded"},
    {11, 'I', "firmware_workaround", "workaround for bug in platform firmware applied"},
    {12, 'O', "oot_module", "externally-built (\"out-of-tree\") module was loaded"},
    {13, 'E', "unsigned_module", "unsigned module was loaded"},
    {14, 'L', "softlockup", "soft lockup occurred"},
    {15, 'K', "livepatch", "kernel has been live patched"},
    {16, 'X', "aux", "auxiliary taint, defined for and used by distros"},
    {17, 'T', "randstruct", "kernel was built with the struct randomization plugin"},
    {18, 'N', "test", "an in-kernel test has been run"},
    {19, 'J', "fwctl", "userspace used a mutating debug operation in fwctl"},
}};

constexpr std::uint64_t bit_mask(unsigned bit) {
  return std::uint64_t{1} << bit;
}

std::filesystem::path kernel_sysctl(const KernelPaths& paths, const char* name) {
  return paths.procfs / "sys" / "kernel" / name;
}

}  // namespace

std::string kernel_release(const KernelPaths& paths) {
  const auto file = kernel_sysctl(paths, "osrelease");
  detail::FileText release = detail::read_kernel_file(file);
  if (release.error != 0) {
    throw KernelError("cannot read the kernel release from " + file.string() + ": " +
                      detail::errno_message(release.error) + "; is procfs mounted at " +
                      paths.procfs.string() + "?");
  }
  return std::move(release.text);
}

std::span<const TaintFlag> known_taint_flags() {
  return kTaintFlags;
}

std::string Taint::letters() const {
  std::string letters;
  for (const TaintFlag& flag : kTaintFlags) {
    if (mask & bit_mask(flag.bit)) letters += flag.letter;
  }
  return letters;
}

std::vector<TaintFlag> Taint::flags() const {
  std::vector<TaintFlag> set;
  for (const TaintFlag& flag : kTaintFlags) {
    if (mask & bit_mask(flag.bit)) set.push_back(flag);
  }
  return set;
}

std::uint64_t Taint::unknown_bits() const {
  std::uint64_t known = 0;
  for (const TaintFlag& flag : kTaintFlags) known |= bit_mask(flag.bit);
  return mask & ~known;
}

Taint read_taint(const KernelPaths& paths) {
  const auto file = kernel_sysctl(paths, "tainted");
  const detail::FileText text = detail::read_kernel_file(file);
  if (text.error != 0) {
    throw KernelError("cannot read the kernel taint from " + file.string() + ": " +
                      detail::errno_message(text.error) + "; is procfs mounted at " +
                      paths.procfs.string() + "?");
  }
  const auto mask = detail::parse_integer<std::uint64_t>(text.text);
  if (!mask) {
    throw KernelError("cannot decode the kernel taint in " + file.string() + ": \"" + text.text +
                      "\" is not an unsigned integer");
  }
  return Taint{.mask = *mask};
}

}  // namespace lpmon
