#include "lpmon_cli.hpp"

#include <CLI/CLI.hpp>
#include <string>

#include "lpmon/errors.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_paths.hpp"
#include "status.hpp"
#include "trace.hpp"

namespace lpmon::cli {
namespace {

struct StatusOptions {
  bool json = false;
  KernelPaths paths;
};

std::string exit_codes_footer() {
  std::string footer = "Exit codes:\n";
  for (const ExitCodeDoc& doc : kExitCodeDocs) {
    footer += "  " + std::to_string(to_int(doc.code)) + "  " + std::string(doc.meaning) + "\n";
  }
  return footer;
}

int run_status(const StatusOptions& options, std::ostream& out, std::ostream& err) {
  const StatusReport report = build_status_report(options.paths);
  if (options.json) {
    out << status_to_json(report).dump(2) << '\n';
  } else {
    out << render_status_text(report);
  }
  if (report.state == LivepatchState::unknown) {
    err << "lpmon: some livepatch state could not be read; the report lists the errors\n";
  }
  return to_int(status_exit_code(report.state));
}

}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"Observe and gate Linux kernel livepatching.", "lpmon"};
  app.set_version_flag("--version", "lpmon " LPMON_VERSION);
  app.require_subcommand(1);
  app.footer(exit_codes_footer());

  // Without a description the check does not append ":DIR" to the DIR placeholder in --help.
  const CLI::Validator existing_dir = CLI::ExistingDirectory.description("");
  StatusOptions status_options;
  CLI::App* status = app.add_subcommand(
      "status", "Show the kernel's livepatches and whether patching is complete");
  status->add_flag("--json", status_options.json, "Print one JSON object instead of text");
  status
      ->add_option("--sysfs-root", status_options.paths.sysfs,
                   "Read sysfs from DIR instead of /sys (for tests)")
      ->type_name("DIR")
      ->check(existing_dir)
      ->group("Testing");
  status
      ->add_option("--procfs-root", status_options.paths.procfs,
                   "Read procfs from DIR instead of /proc (for tests)")
      ->type_name("DIR")
      ->check(existing_dir)
      ->group("Testing");

  TraceOptions trace_options;
  CLI::App* trace = app.add_subcommand(
      "trace", "Stream livepatch transitions as the kernel makes them (BPF; needs root)");
  trace->add_flag("--json", trace_options.json, "Print one JSON object per line");
  trace->add_option("--count", trace_options.count, "Stop after N events")->type_name("N");
  trace
      ->add_option_function<double>(
          "--duration",
          [&](double s) {
            trace_options.duration = std::chrono::milliseconds(static_cast<long>(s * 1000));
          },
          "Stop after this many seconds")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber);
  trace->add_flag("-v,--verbose", trace_options.verbose, "Show libbpf's messages");
  trace
      ->add_option("--sysfs-root", trace_options.paths.sysfs,
                   "Read sysfs from DIR instead of /sys (for tests)")
      ->type_name("DIR")
      ->check(existing_dir)
      ->group("Testing");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 has its own exit code per parse error; lpmon promises one usage code for all.
    const int cli11_code = app.exit(error, out, err);
    return cli11_code == 0 ? to_int(ExitCode::ok) : to_int(ExitCode::usage_error);
  }

  try {
    if (trace->parsed()) return run_trace(trace_options, out, err);
    return run_status(status_options, out, err);
  } catch (const LivepatchUnsupportedError& error) {
    err << "lpmon: " << error.what() << '\n';
    return to_int(ExitCode::no_livepatch);
  } catch (const std::exception& error) {
    err << "lpmon: " << error.what() << '\n';
    return to_int(ExitCode::runtime_error);
  }
}

}  // namespace lpmon::cli
