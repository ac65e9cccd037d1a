#include "lpmon_cli.hpp"

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "command.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/exit_codes.hpp"

namespace lpmon::cli {
const CLI::Validator& existing_dir() {
  // Without a description the check does not append ":DIR" to the DIR placeholder in --help.
  static const CLI::Validator validator = CLI::ExistingDirectory.description("");
  return validator;
}

void add_kernel_root_options(CLI::App& command, KernelPaths& paths, bool with_procfs) {
  command
      .add_option("--sysfs-root", paths.sysfs, "Read sysfs from DIR instead of /sys (for tests)")
      ->type_name("DIR")
      ->check(existing_dir())
      ->group("Testing");
  if (!with_procfs) return;
  command
      .add_option("--procfs-root", paths.procfs,
                  "Read procfs from DIR instead of /proc (for tests)")
      ->type_name("DIR")
      ->check(existing_dir())
      ->group("Testing");
}

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"Observe and gate Linux kernel livepatching.", "lpmon"};
  app.set_version_flag("--version", "lpmon " LPMON_VERSION);
  app.require_subcommand(1);
  app.footer(exit_codes_footer("Exit codes:\n", kExitCodeDocs));

  const std::vector<Command> commands{
      add_status_command(app),  add_trace_command(app),  add_build_command(app),
      add_inspect_command(app), add_gate_command(app),   add_calls_command(app),
      add_apply_command(app),   add_revert_command(app), add_verify_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 has its own exit code per parse error; lpmon promises one usage code for all.
    const int cli11_code = app.exit(error, out, err);
    return cli11_code == 0 ? to_int(ExitCode::ok) : to_int(ExitCode::usage_error);
  }

  try {
    for (const Command& command : commands) {
      if (command.app->parsed()) return command.run(out, err);
    }
    return to_int(ExitCode::usage_error);  // unreachable: require_subcommand(1)
  } catch (const LivepatchUnsupportedError& error) {
    err << "lpmon: " << error.what() << '\n';
    return to_int(ExitCode::no_livepatch);
  } catch (const std::exception& error) {
    err << "lpmon: " << error.what() << '\n';
    return to_int(ExitCode::runtime_error);
  }
}

}  // namespace lpmon::cli
