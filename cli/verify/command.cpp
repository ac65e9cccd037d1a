// lpmon verify: boots the patch's own kernel under QEMU, applies the patch under a gate, runs
// a workload, bakes, reverts, and decides (verify/report.cpp).
#include <CLI/CLI.hpp>
#include <fstream>
#include <sstream>

#include "command.hpp"
#include "gate.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_image.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon/rollout/preflight.hpp"
#include "lpmon/util/process.hpp"
#include "verify/artifacts.hpp"
#include "verify/guest_run.hpp"
#include "verify/verify.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace verify;

constexpr int kInvalid = to_int(ExitCode::invalid_input);
constexpr int kError = to_int(GateExitCode::error);

struct Options {
  std::string patch;
  std::string kernel_package;
  std::string kernel;
  std::string modules;
  std::string workload;
  std::string gate;
  std::string report;
  std::vector<std::string> load_modules;
  std::string accel = "auto";
  std::string apply_timeout = "60s";
  std::string bake = "10s";
  int guest_timeout = 0;
  bool json_output = false;
};

// verify's verdicts are the gate's codes; then the module checks it shares with inspect.
constexpr GateExitCodeDoc kVerdictDocs[] = {
    {GateExitCode::pass,
     "Successful: loaded, transitioned, the gate passed, no warning, clean revert"},
    {GateExitCode::fail,
     "Failed: the patch did not apply, the kernel warned or oopsed, a gate check failed, or "
     "the revert or unload was not clean"},
    {GateExitCode::inconclusive,
     "Inconclusive: the workload did not call every patched function, or a gate check could "
     "not decide"},
    {GateExitCode::error,
     "Error: the verification could not run or finish (no kernel package, no qemu, the guest "
     "died without a kernel crash)"},
    {GateExitCode::invalid_input,
     "invalid command line, gate file or workload script; nothing was booted"},
};

std::string verify_footer() {
  return exit_codes_footer(
             "The patch is refused before any boot when it is not a livepatch or was built for "
             "another kernel than the one given. Runs need qemu-system-x86, busybox-static and "
             "cpio, and apt-get to fetch a kernel.\n\nExit codes:\n",
             kVerdictDocs) +
         exit_codes_footer(
             "", kExitCodeDocs,
             [](int code) {
               return code >= to_int(ExitCode::unreadable_file) &&
                      code <= to_int(ExitCode::kernel_mismatch);
             },
             "; nothing was booted");
}

int parse_and_run(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "Verify a livepatch on the kernel it was built for before deploying it: boot that "
      "kernel under QEMU, apply the patch under a gate, run a workload through the patched "
      "functions, bake, revert, and report.",
      "lpmon verify"};
  app.footer(verify_footer());
  app.get_formatter()->column_width(40);
  Options o;
  app.add_option("PATCH", o.patch, "The livepatch module (.ko)")->required();
  app.add_option("--kernel-package", o.kernel_package,
                 "Debian kernel image package to boot (default: linux-image-<release> of the "
                 "module's vermagic), fetched once into $XDG_CACHE_HOME/lpmon/kernels")
      ->type_name("NAME");
  app.add_option("--kernel", o.kernel, "Boot this kernel image instead of a package")
      ->type_name("VMLINUZ");
  app.add_option("--modules", o.modules,
                 "That kernel's modules (default: lib/modules/<release> beside VMLINUZ's boot/)")
      ->type_name("DIR");
  app.add_option("--load-module", o.load_modules,
                 "A module the patch's objects need that the kernel does not ship, loaded "
                 "before the patch (repeatable, in order)")
      ->type_name("FILE.ko");
  app.add_option("--workload", o.workload,
                 "Run this sh script in the guest instead of the default workload; its first "
                 "argument is a file of OBJECT:FUNCTION lines")
      ->type_name("SCRIPT");
  app.add_option("--gate", o.gate,
                 "Gate file for lpmon apply and the final verdict (docs/gate.md; default: "
                 "transition within 60s, no blocking tasks, no new taint)")
      ->type_name("FILE");
  app.add_option("--report", o.report, "Also write the report as a self-contained HTML page")
      ->type_name("FILE.html");
  app.add_flag("--json", o.json_output,
               "Print the report as one JSON document; progress to stderr");
  app.add_option("--bake", o.bake, "How long to hold the patch under load before reverting")
      ->type_name("D")
      ->capture_default_str();
  app.add_option("--apply-timeout", o.apply_timeout, "lpmon apply --timeout in the guest")
      ->type_name("D")
      ->capture_default_str();
  app.add_option("--accel", o.accel, "auto (kvm where qemu can use it, else tcg), kvm or tcg")
      ->type_name("KIND")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}).description(""))
      ->capture_default_str();

  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "lpmon verify: " << e.what() << "\nRun lpmon verify --help for the options.\n";
    return kInvalid;
  }
  auto invalid = [&](const std::string& message) {
    err << "lpmon verify: " << message << '\n';
    return kInvalid;
  };
  const auto bake = gate::parse_duration(o.bake);
  if (!bake) return invalid("--bake '" + o.bake + "': expected a duration such as 10s or 2m");
  const auto apply_timeout = gate::parse_duration(o.apply_timeout);
  if (!apply_timeout || apply_timeout->count() < 1000) {
    return invalid("--apply-timeout '" + o.apply_timeout + "': expected a duration of 1s or more");
  }
  if (!o.kernel_package.empty() && !o.kernel.empty()) {
    return invalid("--kernel-package and --kernel exclude each other");
  }
  if (!o.modules.empty() && o.kernel.empty()) return invalid("--modules needs --kernel");

  // The patch: refused here, before any download or boot, when it cannot be verified.
  ModuleInfo module;
  try {
    module = ModuleInspector().inspect(o.patch);
  } catch (const ModuleFileError& e) {
    err << "lpmon verify: " << e.what() << '\n';
    return to_int(rollout::module_file_exit_code(e.problem()));
  }
  if (!module.livepatch) {
    err << "lpmon verify: " << o.patch
        << ": a kernel module, but not a livepatch (no livepatch=Y in .modinfo)\n";
    return to_int(ExitCode::not_livepatch);
  }
  if (!module.release) {
    err << "lpmon verify: " << o.patch << ": no vermagic: cannot tell which kernel it is for\n";
    return to_int(ExitCode::not_a_module);
  }
  const std::string release = *module.release;

  for (const std::string& m : o.load_modules) {
    if (!fs::is_regular_file(m)) return invalid("--load-module " + m + ": no such file");
  }
  if (!o.workload.empty() && !fs::is_regular_file(o.workload)) {
    return invalid("--workload " + o.workload + ": no such file");
  }
  const fs::path data = data_dir();
  const fs::path gate_path = o.gate.empty() ? data / "verify" / "gate.yaml" : fs::path(o.gate);
  gate::GateFile gate_file;
  try {
    gate_file = gate::load_gate_file(gate_path);
  } catch (const gate::GateFileError& e) {
    return invalid(e.what());
  }

  // The kernel: the package of the module's release, or the image given, whose release must
  // be the module's (the kernel refuses a module with another vermagic).
  VerifyRun run;
  run.patch_file = o.patch;
  run.patch_name = module.name;
  run.release = release;
  run.gate_file = o.gate.empty() ? "(default) " + gate_path.string() : o.gate;
  run.workload = o.workload.empty() ? "default" : o.workload;
  run.bake_seconds = static_cast<int>(bake->count() / 1000);
  auto mismatch = [&](const std::string& kernel_release, const std::string& what) {
    err << "lpmon verify: " << o.patch << " was built for " << release << " (vermagic), but "
        << what << " is " << kernel_release
        << ": the kernel would refuse to load it; verify it on its own kernel (omit --kernel "
           "and --kernel-package)\n";
    return to_int(ExitCode::kernel_mismatch);
  };
  fs::path vmlinuz, modules_dir;
  std::string package;
  if (!o.kernel.empty()) {
    const auto image_release = bzimage_release(o.kernel);
    if (!image_release) {
      return invalid("--kernel " + o.kernel + ": not an x86 kernel image (no boot header)");
    }
    if (*image_release != release) return mismatch(*image_release, o.kernel);
    vmlinuz = o.kernel;
    modules_dir = o.modules.empty()
                      ? fs::absolute(vmlinuz).parent_path().parent_path() / "lib/modules" / release
                      : fs::path(o.modules);
    run.kernel_source = o.kernel;
  } else {
    package = o.kernel_package.empty() ? "linux-image-" + release : o.kernel_package;
    static constexpr std::string_view prefix = "linux-image-";
    std::string package_release =
        package.starts_with(prefix) ? package.substr(prefix.size()) : package;
    if (package_release.ends_with("-unsigned")) {
      package_release.resize(package_release.size() - std::string_view("-unsigned").size());
    }
    if (package_release != release) return mismatch(package_release, "package " + package);
    run.kernel_source = "package " + package;
  }

  for (const char* file : {"mkinitramfs.sh", "run-guest.sh", "fetch-kernel.sh", "guest/init",
                           "guest/lib.sh", "verify/verify-guest.sh", "verify/workload.sh"}) {
    if (!fs::exists(data / file)) {
      err << "lpmon verify: lpmon's run-time data is incomplete: " << (data / file).string()
          << " is missing (install lpmon, or set LPMON_DATA_DIR to its share/lpmon)\n";
      return kError;
    }
  }

  if (vmlinuz.empty()) {
    err << "lpmon verify: kernel " << release << " (" << package << ")\n";
    const fs::path kernel_dir = cache_dir() / "kernels" / release;
    const int rc = run_process({(data / "fetch-kernel.sh").string(), "--release", release,
                                "--package", package, "--dir", kernel_dir.string()},
                               {.output = ProcessOutput::our_stderr})
                       .status;
    if (rc == 3) {
      err << "lpmon verify: " << o.patch << " was built for " << release
          << ", and the package registry has no " << package
          << ": give that kernel with --kernel VMLINUZ (and --modules DIR); nothing was booted\n";
      return to_int(ExitCode::kernel_mismatch);
    }
    if (rc != 0) {
      err << "lpmon verify: could not fetch " << package << "; nothing was booted\n";
      return kError;
    }
    vmlinuz = kernel_dir / "vmlinuz";
    modules_dir = kernel_dir / "root/lib/modules" / release;
  }

  fs::path work;
  try {
    work = fresh_work_dir(cache_dir() / "verify", module.name);
  } catch (const std::exception& e) {
    err << "lpmon verify: " << e.what() << '\n';
    return kError;
  }
  std::error_code ec;
  fs::create_directories(work / "files/modules", ec);
  if (ec) {
    err << "lpmon verify: cannot create " << work.string() << ": " << ec.message() << '\n';
    return kError;
  }
  const auto [accel, accel_reason] = choose_accel(o.accel);
  run.accel = accel;
  run.accel_reason = accel_reason;

  // The patch's module objects: those given with --load-module, the rest from the kernel.
  std::vector<std::string> given;
  std::ofstream modules_list(work / "files/modules.txt");
  std::vector<std::string> guest_files;
  for (const std::string& m : o.load_modules) {
    ModuleInfo info;
    try {
      info = ModuleInspector().inspect(m);
    } catch (const ModuleFileError& e) {
      return invalid(std::string("--load-module: ") + e.what());
    }
    fs::copy_file(m, work / "files/modules" / (info.name + ".ko"),
                  fs::copy_options::overwrite_existing);
    modules_list << info.name << '\n';
    given.push_back(info.name);
    guest_files.push_back((work / "files/modules" / (info.name + ".ko")).string() +
                          ":verify/modules/" + info.name + ".ko");
  }
  modules_list.close();
  std::vector<std::string> initramfs_args{(data / "mkinitramfs.sh").string(),
                                          "--out",
                                          (work / "initramfs.cpio").string(),
                                          "--guest-dir",
                                          (data / "guest").string(),
                                          "--modules-dir",
                                          modules_dir.string(),
                                          "--release",
                                          release};
  {
    std::error_code self_ec;
    initramfs_args.insert(initramfs_args.end(),
                          {"--bin", fs::read_symlink("/proc/self/exe", self_ec).string()});
  }
  if (const auto exporter = exporter_binary()) {
    initramfs_args.insert(initramfs_args.end(), {"--bin", exporter->string()});
  }
  if (module.patch.objects) {
    for (const PatchedObject& object : *module.patch.objects) {
      if (object.name == "vmlinux" ||
          std::find(given.begin(), given.end(), object.name) != given.end()) {
        continue;
      }
      initramfs_args.insert(initramfs_args.end(), {"--kernel-module", object.name});
    }
  }
  err << "lpmon verify: building the guest (" << release << ", " << accel << ")\n";
  if (run_process(initramfs_args,
                  {.output = ProcessOutput::log_file, .log = work / "mkinitramfs.log"})
          .status != 0) {
    err << "lpmon verify: building the guest's initramfs failed:\n"
        << file_tail(work / "mkinitramfs.log", 5) << "\n";
    return kError;
  }

  {
    std::ofstream params(work / "files/params");
    params << "PATCH_NAME=" << module.name << "\nBAKE_SECONDS=" << run.bake_seconds
           << "\nAPPLY_TIMEOUT=" << apply_timeout->count() / 1000 << "\nREVERT_TIMEOUT=60\n";
  }
  const fs::path workload = o.workload.empty() ? data / "verify/workload.sh" : fs::path(o.workload);
  const int guest_timeout =
      180 + static_cast<int>(apply_timeout->count() / 1000) + 2 * run.bake_seconds;
  std::vector<std::string> guest_args{
      (data / "run-guest.sh").string(),
      // verify judges the kernel's warnings itself, into its report.
      "--kernel-problems", "report", "--name", "verify", "--kernel", vmlinuz.string(),
      "--initramfs", (work / "initramfs.cpio").string(), "--scenario",
      (data / "verify/verify-guest.sh").string(), "--out", (work / "guest").string(), "--timeout",
      std::to_string(guest_timeout), "--accel", accel, "--quiet", "--file",
      fs::absolute(o.patch).string() + ":verify/patch.ko", "--file",
      gate_path.string() + ":verify/gate.yaml", "--file",
      fs::absolute(workload).string() + ":verify/workload.sh", "--file",
      (work / "files/params").string() + ":verify/params", "--file",
      (work / "files/modules.txt").string() + ":verify/modules.txt"};
  for (const std::string& f : guest_files) guest_args.insert(guest_args.end(), {"--file", f});

  // Progress: the guest script's "verify: " lines, as they arrive on its serial port.
  const fs::path result_log = work / "guest/result.log";
  std::size_t seen = 0;
  auto show_progress = [&] {
    const std::string text = read_text(result_log);
    std::size_t end;
    while ((end = text.find('\n', seen)) != std::string::npos) {
      std::string line = text.substr(seen, end - seen);
      seen = end + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.starts_with("verify: ")) err << "lpmon verify: " << line.substr(8) << std::endl;
    }
  };
  err << "lpmon verify: booting " << release << " under QEMU (" << accel << ")\n";
  const auto started = std::chrono::steady_clock::now();
  const int guest_rc = run_process(guest_args, {.output = ProcessOutput::log_file,
                                                .log = work / "run-guest.log",
                                                .tick = show_progress})
                           .status;
  run.guest_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  run.guest_dir = (work / "guest").string();
  const fs::path artifacts = work / "guest/artifacts";
  run.guest_finished = guest_rc == 0 && fs::exists(artifacts / "done.txt");
  if (!run.guest_finished) {
    run.guest_log_tail = file_tail(result_log, 15) + "\n" + file_tail(work / "run-guest.log", 5);
  }
  // The serial console has every kernel message at warning level and worse.
  std::string console;
  for (const std::string& line : lines_of(read_text(work / "guest/console.log"))) {
    console += line + "\n";
  }
  for (const std::string& crash : kernel_reports(console)) {
    if (crash.find("Kernel panic") != std::string::npos ||
        crash.find("Oops") != std::string::npos || crash.find("BUG:") != std::string::npos) {
      if (!run.guest_finished) run.console_crash += crash + "\n";
    }
  }

  const json report = build_verify_report(run, artifacts, gate_file);
  if (!o.report.empty()) {
    std::ofstream html(o.report);
    html << render_verify_html(report);
    if (!html) {
      err << "lpmon verify: cannot write " << o.report << '\n';
      return kError;
    }
    err << "lpmon verify: report written to " << o.report << '\n';
  }
  if (o.json_output) {
    out << report.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    out << format_verify_text(report);
  }
  return report["exitCode"].get<int>();
}

}  // namespace

int run_verify_command(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  try {
    return parse_and_run(std::move(args), out, err);
  } catch (const std::exception& e) {
    // Not a verdict on the patch: never report it as a failure.
    err << "lpmon verify: error: " << e.what() << '\n';
    return kError;
  }
}

Command add_verify_command(CLI::App& lpmon) {
  // As lpmon gate: exit 2 means Inconclusive here, so verify parses its own arguments and
  // reports wrong input as 6.
  CLI::App* verify = lpmon.add_subcommand(
      "verify",
      "Boot the patch's kernel under QEMU, apply the patch under a gate, load it, revert it, "
      "and report (own exit codes)");
  verify->prefix_command();
  verify->allow_extras();
  verify->set_help_flag();
  return {verify, [verify](std::ostream& out, std::ostream& err) {
            return run_verify_command(verify->remaining(), out, err);
          }};
}

}  // namespace lpmon::cli
