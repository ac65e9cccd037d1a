#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "lpmon_cli.hpp"

namespace lpmon::testing {

// What one run of the lpmon command line gave: its exit code and both streams.
struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

// Runs `lpmon ARGS...` in-process, as main() would.
inline Outcome lpmon(std::vector<std::string> args) {
  args.insert(args.begin(), "lpmon");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out;
  std::ostringstream err;
  const int code = cli::run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

}  // namespace lpmon::testing
