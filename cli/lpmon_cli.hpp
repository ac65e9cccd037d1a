#pragma once

#include <ostream>

namespace lpmon::cli {

// The whole lpmon command line: parses argv, runs the subcommand and returns the process exit
// code (lpmon/exit_codes.hpp). Output goes to out, diagnostics to err, so tests can run it.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace lpmon::cli
