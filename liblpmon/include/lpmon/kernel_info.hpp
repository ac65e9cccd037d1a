#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lpmon/kernel_paths.hpp"

namespace lpmon {

// The running kernel's release as `uname -r` prints it, from /proc/sys/kernel/osrelease.
// Throws KernelError when the file cannot be read.
std::string kernel_release(const KernelPaths& paths);

// One bit of /proc/sys/kernel/tainted, as listed in the kernel's
// Documentation/admin-guide/tainted-kernels.rst.
struct TaintFlag {
  unsigned bit;
  char letter;                   // as the kernel prints it after "Tainted:"
  std::string_view name;         // the kernel's TAINT_* name in lower case; stable for --json
  std::string_view description;  // the reason given in tainted-kernels.rst
};

// Every flag lpmon knows, ordered by bit.
std::span<const TaintFlag> known_taint_flags();

struct Taint {
  std::uint64_t mask = 0;

  // Letters of the set flags in bit order, e.g. "OEK"; empty for an untainted kernel.
  std::string letters() const;
  // The set flags lpmon knows, in bit order.
  std::vector<TaintFlag> flags() const;
  // Set bits from kernels newer than lpmon's table; they have no letter or name here.
  std::uint64_t unknown_bits() const;
};

// Reads /proc/sys/kernel/tainted. Throws KernelError when it is unreadable or not a number.
Taint read_taint(const KernelPaths& paths);

}  // namespace lpmon
