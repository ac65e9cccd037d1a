#pragma once

#include <string>

#include "lpmon/exit_codes.hpp"

namespace lpmon::rollout {

// Why apply or revert refused or failed: the code from the single exit-code table and the one
// line for the user (what failed, why, what to do). The rollout engine reports every expected
// failure as one of these, never by throwing.
struct Error {
  ExitCode code = ExitCode::runtime_error;
  std::string message;
};

}  // namespace lpmon::rollout
