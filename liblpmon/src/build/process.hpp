#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lpmon::build {

struct ProcessResult {
  int status = -1;     // exit status, -1 when it could not run or was killed
  std::string output;  // stdout and stderr together
};

// Runs argv (PATH lookup) in `cwd` with extra environment entries "K=V"; waits for it.
// With stderr_to_user, its stderr (progress of long steps) goes to ours, not to output.
ProcessResult run(const std::vector<std::string>& argv, const std::filesystem::path& cwd = {},
                  const std::vector<std::string>& env = {}, bool stderr_to_user = false);

// The last `lines` lines of text, indented, for error messages.
std::string tail(const std::string& text, std::size_t lines);

}  // namespace lpmon::build
