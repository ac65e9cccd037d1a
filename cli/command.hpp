#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <ostream>
#include <string>

#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_paths.hpp"

namespace lpmon::cli {

// One subcommand: its CLI11 app and what runs once it is parsed. Each command's file defines
// add_<name>_command(CLI::App& lpmon), which declares the options and returns this, so that
// lpmon_cli.cpp only lists the commands.
struct Command {
  CLI::App* app;
  std::function<int(std::ostream& out, std::ostream& err)> run;
};

// "Exit codes..." tables at the end of --help: a heading, then a line per code as
// "  12  meaning", from one of liblpmon's tables (kExitCodeDocs, kGateExitCodeDocs), those
// codes `keep` accepts, each meaning followed by `suffix`.
template <typename Docs>
std::string exit_codes_footer(std::string heading, const Docs& docs,
                              const std::function<bool(int)>& keep = {},
                              const std::string& suffix = {}) {
  for (const auto& doc : docs) {
    const int code = to_int(doc.code);
    if (keep && !keep(code)) continue;
    const std::string number = std::to_string(code);
    heading += std::string(number.size() < 4 ? 4 - number.size() : 0, ' ') + number + "  " +
               std::string(doc.meaning) + suffix + "\n";
  }
  return heading;
}

// A directory that must exist, shown as "DIR" in --help.
const CLI::Validator& existing_dir();

// --sysfs-root (and --procfs-root) in the "Testing" group: point lpmon at a fake kernel tree.
void add_kernel_root_options(CLI::App& command, KernelPaths& paths, bool with_procfs = true);

Command add_status_command(CLI::App& lpmon);
Command add_trace_command(CLI::App& lpmon);
Command add_build_command(CLI::App& lpmon);
Command add_inspect_command(CLI::App& lpmon);
Command add_gate_command(CLI::App& lpmon);
Command add_calls_command(CLI::App& lpmon);
Command add_apply_command(CLI::App& lpmon);
Command add_revert_command(CLI::App& lpmon);
Command add_verify_command(CLI::App& lpmon);

}  // namespace lpmon::cli
