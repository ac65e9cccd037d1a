#include "lpmon_cli.hpp"

#include <CLI/CLI.hpp>
#include <string>

#include "build_command.hpp"
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

  BuildOptions build_options;
  std::vector<std::string> object_btf;
  CLI::App* build = app.add_subcommand(
      "build", "Build a cumulative livepatch module (atomic replace) from fix units");
  build->add_option("--fixes", build_options.fix_dirs, "Directory of fix units (repeatable)")
      ->type_name("DIR")
      ->required()
      ->check(existing_dir);
  build->add_option("--name", build_options.name, "Module and patch name, e.g. acme_fixes_v3")
      ->required();
  build
      ->add_option("--version", build_options.version,
                   "Release: carries every fix whose 'since' is at most this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  build
      ->add_option("--exclude-cve", build_options.exclude_cves,
                   "Leave out the fixes addressing this CVE (repeatable)")
      ->type_name("CVE");
  build
      ->add_option("--kdir", build_options.kdir,
                   "Kernel build tree (default: /lib/modules/$(uname -r)/build)")
      ->type_name("DIR")
      ->check(existing_dir);
  build
      ->add_option("--kernel-btf", build_options.kernel_btf,
                   "vmlinux (or raw BTF) of the target kernel, to check the fixes' functions")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  build
      ->add_option("--object-btf", object_btf,
                   "OBJECT=MODULE.ko with BTF, for fixes to a module (repeatable)")
      ->type_name("OBJECT=KO");
  build->add_option("--include", build_options.include_dirs, "Header directory for the fixes")
      ->type_name("DIR")
      ->check(existing_dir);
  build->add_option("-o,--output", build_options.output, "Output directory (default: ./NAME)")
      ->type_name("DIR");
  build->add_flag("--generate-only", build_options.generate_only,
                  "Write the C source and Kbuild file, do not compile");
  build->add_flag("--json", build_options.json, "Print the summary as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 has its own exit code per parse error; lpmon promises one usage code for all.
    const int cli11_code = app.exit(error, out, err);
    return cli11_code == 0 ? to_int(ExitCode::ok) : to_int(ExitCode::usage_error);
  }

  try {
    if (trace->parsed()) return run_trace(trace_options, out, err);
    if (build->parsed()) {
      for (const auto& spec : object_btf) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
          err << "lpmon build: --object-btf '" << spec << "': expected OBJECT=MODULE.ko\n";
          return to_int(ExitCode::usage_error);
        }
        build_options.object_btf[spec.substr(0, eq)] = spec.substr(eq + 1);
      }
      return run_build(build_options, out, err);
    }
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
