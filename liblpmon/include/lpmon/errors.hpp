#pragma once

#include <stdexcept>

namespace lpmon {

// Reading kernel state failed as a whole. The message says what was read, why it failed and,
// where there is one, what to do about it; it is meant to be shown to the user as is.
class KernelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The kernel cannot livepatch at all (no /sys/kernel/livepatch). Separate from KernelError so
// that every command needing livepatch can stop with the same exit code.
class LivepatchUnsupportedError : public KernelError {
 public:
  using KernelError::KernelError;
};

}  // namespace lpmon
