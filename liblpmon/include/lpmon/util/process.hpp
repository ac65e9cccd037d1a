#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace lpmon {

// Runs argv (PATH searched) with stdin from /dev/null; its output goes to `log`, or to our
// stderr when `log` is empty. `tick` runs every 200 ms meanwhile. Returns the exit status,
// 128 + the signal that ended it, or -1 when it could not start.
int run_process(const std::vector<std::string>& argv, const std::filesystem::path& log,
                const std::function<void()>& tick = {});

}  // namespace lpmon
