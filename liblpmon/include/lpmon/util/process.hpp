#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace lpmon {

// Where a program's output goes.
enum class ProcessOutput {
  capture,         // stdout and stderr into ProcessResult::output
  capture_stdout,  // stdout into output; stderr to ours (progress of long steps)
  log_file,        // stdout and stderr into ProcessOptions::log (truncated first)
  our_stderr,      // stdout and stderr to our stderr
};

struct ProcessOptions {
  ProcessOutput output = ProcessOutput::capture;
  std::filesystem::path log;     // for log_file
  std::filesystem::path cwd;     // empty: ours
  std::vector<std::string> env;  // "K=V" entries added to our environment
  std::function<void()> tick;    // runs about every 200 ms while it runs, and once at its end
};

struct ProcessResult {
  // Its exit status, 128 + the signal that ended it, or -1 when it could not start (output
  // then says why).
  int status = -1;
  std::string output;  // what was captured
};

// Runs argv (PATH searched) with stdin from /dev/null and waits for it: the one way lpmon runs
// another program.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// The last `lines` lines of text, each indented by two spaces, for error messages.
std::string last_lines(const std::string& text, std::size_t lines);

}  // namespace lpmon
