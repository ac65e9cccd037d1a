#include "build_command.hpp"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "lpmon/build/diff_build.hpp"
#include "lpmon/build/fix_units.hpp"
#include "lpmon/build/patch_module.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_image.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/module_inspector.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using namespace lpmon::build;

std::string c_name_of(std::string s) {
  for (auto& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

// lpmon's run-time data (the scripts that prepare sources): $LPMON_DATA_DIR, else
// share/lpmon next to the binary, as lpmon verify finds it.
fs::path lpmon_scripts_dir() {
  if (const char* env = std::getenv("LPMON_DATA_DIR"); env && *env) return env;
  return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "share" / "lpmon";
}

// The running kernel's release; empty when /proc cannot tell (then no release matches it).
std::string running_release() {
  try {
    return kernel_release(KernelPaths{});
  } catch (const KernelError&) {
    return {};
  }
}

// Where the running kernel shows its BTF (raw: no version banner).
fs::path running_btf(const std::string& object) {
  return KernelPaths{}.sysfs / "kernel/btf" / object;
}

std::string build_time() {
  // Reproducible builds set SOURCE_DATE_EPOCH; the module then does not change with the clock.
  std::time_t t = std::time(nullptr);
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH")) t = std::strtoll(epoch, nullptr, 10);
  return utc_timestamp(std::chrono::system_clock::from_time_t(t), 0);
}

struct Target {
  fs::path kdir;
  std::string release;
  fs::path kernel_btf;
};

Target resolve_target(const BuildOptions& options, const std::string& kernel) {
  Target target;
  if (!kernel.empty()) {
    // The release's prepared Debian source (lpmon's cache) is its Kbuild tree and vmlinux.
    const fs::path cache = prepare_release(options.scripts, kernel);
    target.kdir = cache / "linux";
    target.release = kernel;
    target.kernel_btf = cache / "vmlinux";
    return target;
  }
  target.kdir = options.kdir.value_or("/lib/modules/" + running_release() + "/build");
  if (!fs::exists(target.kdir / "Makefile")) {
    throw BuildError("no kernel build tree at " + target.kdir.string() +
                     ": install the headers of the target kernel (Debian: linux-headers-<release>) "
                     "or pass --kdir");
  }
  const auto release = kbuild_release(target.kdir);
  if (!release) {
    throw BuildError(target.kdir.string() +
                     " has no include/generated/utsrelease.h: not a prepared "
                     "kernel build tree");
  }
  target.release = *release;
  if (options.kernel_btf) {
    target.kernel_btf = *options.kernel_btf;
  } else if (fs::exists(target.kdir / "vmlinux")) {
    target.kernel_btf = target.kdir / "vmlinux";
  } else if (auto found = find_kernel_btf(target.release, KernelPaths{})) {
    target.kernel_btf = *found;
  } else {
    throw BuildError("no BTF of kernel " + target.release +
                     " to check the fixes' functions against: pass --kernel-btf <its vmlinux>");
  }
  // Raw BTF has no version banner; the running kernel's own is the one raw BTF we can place.
  std::optional<std::string> btf_release = vmlinux_release(target.kernel_btf);
  std::error_code ec;
  if (!btf_release && fs::equivalent(target.kernel_btf, running_btf("vmlinux"), ec)) {
    btf_release = running_release();
  }
  if (!btf_release) {
    throw BuildError("cannot tell which kernel " + target.kernel_btf.string() +
                     " belongs to (no version banner): pass the target kernel's vmlinux");
  }
  if (*btf_release != target.release) {
    throw BuildError("the headers in " + target.kdir.string() + " are for kernel " +
                     target.release + " but " + target.kernel_btf.string() + " is kernel " +
                     *btf_release + ": build against the headers of the kernel you patch");
  }
  return target;
}

// Every replaced function must exist, once (or at its sympos), in the target's BTF.
void verify_functions(const FixSelection& selection, const Target& target,
                      const BuildOptions& options) {
  struct CheckedBtf {
    fs::path file;
    BtfFunctions functions;
  };
  std::map<std::string, CheckedBtf> btf_by_object;
  auto functions_of = [&](const std::string& object) -> const CheckedBtf& {
    if (auto it = btf_by_object.find(object); it != btf_by_object.end()) return it->second;
    if (object == "vmlinux") {
      return btf_by_object
          .emplace(object, CheckedBtf{target.kernel_btf, BtfFunctions::load(target.kernel_btf)})
          .first->second;
    }
    fs::path module_btf;
    if (auto it = options.object_btf.find(object); it != options.object_btf.end()) {
      module_btf = it->second;
    } else if (running_release() == target.release && fs::exists(running_btf(object))) {
      module_btf = running_btf(object);
    } else {
      throw BuildError("cannot check the functions of object '" + object + "': pass --object-btf " +
                       object + "=<" + object + ".ko built with BTF>");
    }
    return btf_by_object
        .emplace(object, CheckedBtf{module_btf, BtfFunctions::load(module_btf, target.kernel_btf)})
        .first->second;
  };
  for (const auto& unit : selection.included) {
    if (!unit.patch.empty()) continue;  // checked against the release's binary when built
    const CheckedBtf& btf = functions_of(unit.object);
    for (const auto& f : unit.functions) {
      const std::size_t n = btf.functions.count(f.name);
      const std::string what = "fix " + unit.id + ": function " + f.name + " ";
      if (n == 0) {
        throw BuildError(what + "does not exist in " + unit.object + " of kernel " +
                         target.release + " (checked " + btf.file.string() + ")");
      }
      if (n > 1 && f.sympos == 0) {
        throw BuildError(what + "exists " + std::to_string(n) + " times in " + unit.object +
                         ": set its sympos in fix.yaml");
      }
      if (f.sympos > n) {
        throw BuildError(what + "has sympos " + std::to_string(f.sympos) + " but " + unit.object +
                         " has " + std::to_string(n));
      }
    }
  }
}

}  // namespace

namespace {

struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "lpmon-build.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary directory");
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!std::getenv("LPMON_KEEP_WORK")) fs::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// The patch module of one release: fix units (fix.c and fix.patch) and the --diff.
nlohmann::json build_release(const BuildOptions& options, const std::string& kernel,
                             const fs::path& dir, std::ostream& err) {
  std::vector<FixUnit> units =
      options.fix_dirs.empty() ? std::vector<FixUnit>{} : load_fix_units(options.fix_dirs);
  if (options.diff) {
    FixUnit unit;
    // FIX.patch names the fix; a unit's fix.patch is named by its directory.
    unit.id = options.diff->stem().string();
    if (unit.id == "fix") unit.id = fs::absolute(*options.diff).parent_path().filename().string();
    unit.dir = options.diff->parent_path();
    unit.summary = "source diff " + options.diff->filename().string();
    unit.cves = options.cves.empty() ? cves_in_diff_header(*options.diff) : options.cves;
    unit.since = options.version;
    unit.patch = *options.diff;
    units.push_back(unit);
  }
  FixSelection selection = select_fixes(units, options.version, options.exclude_cves);
  const Target target = resolve_target(options, kernel);

  // Objects before and after each diff: scratch, gone with the build (refused or not).
  const ScratchDir work;
  nlohmann::json diffs = nlohmann::json::array();
  fs::path kpatch_tools;
  std::string compiler;
  for (auto& unit : selection.included) {
    if (unit.patch.empty()) continue;
    if (kernel.empty()) {
      throw BuildError("fix " + unit.id +
                       " is a diff: pass --kernel RELEASE to build it from the "
                       "release's Debian source");
    }
    DiffBuildRequest request{
        unit.patch,
        kernel,
        c_name_of(unit.id),
        work.path / unit.id,
        options.scripts,
        [&](const std::string& step) { err << "lpmon build: " << kernel << ": " << step << "\n"; }};
    const DiffBuild built = build_diff(request);
    attach_diff_build(unit, built.functions, built.output);
    kpatch_tools = built.kpatch_tools;
    compiler = built.compiler;
    nlohmann::json d{{"fix", unit.id}, {"cves", unit.cves}, {"notes", built.notes}};
    for (const auto& o : built.objects) {
      d["objects"].push_back({{"source", o.source},
                              {"object", o.object},
                              {"changed_functions", o.changed_functions},
                              {"new_functions", o.new_functions}});
    }
    diffs.push_back(d);
  }
  verify_functions(selection, target, options);

  const PatchMetadata metadata{options.name, options.version, target.release, build_time()};
  const ModuleResult module =
      build_patch_module(selection, metadata,
                         {dir, target.kdir, target.release, compiler, target.kernel_btf,
                          kpatch_tools, options.include_dirs, options.generate_only});
  for (const auto& warning : module.warnings) err << "lpmon: warning: " << warning << "\n";
  for (auto& d : diffs) d["klp_symbols"] = module.klp_symbols;
  const fs::path& ko = module.ko;

  nlohmann::json summary{
      {"name", options.name},
      {"version", options.version},
      {"module", options.generate_only ? nlohmann::json(nullptr) : nlohmann::json(ko.string())},
      {"source_dir", dir.string()},
      {"target_release", target.release},
      {"replace", true},
      {"cves_fixed", selection.cves_fixed},
      {"cves_excluded", selection.cves_excluded},
      {"diffs", diffs},
  };
  summary["fixes"] = nlohmann::json::array();
  for (const auto& unit : selection.included) summary["fixes"].push_back(unit.id);
  for (const auto& unit : selection.included) {
    summary["fix_units"].push_back({{"id", unit.id},
                                    {"object", unit.object},
                                    {"kind", unit.patch.empty() ? "fix.c" : "diff"},
                                    {"cves", unit.cves}});
  }
  summary["excluded_fixes"] = nlohmann::json::array();
  for (const auto& unit : selection.excluded) summary["excluded_fixes"].push_back(unit.id);
  summary["functions"] = nlohmann::json::array();
  for (const auto& unit : selection.included) {
    for (const auto& f : unit.functions) summary["functions"].push_back(unit.object + ":" + f.name);
  }
  return summary;
}

void render_text(const nlohmann::json& s, bool generate_only, std::ostream& out) {
  out << (generate_only ? "generated " : "built ") << s["name"].get<std::string>() << " version "
      << s["version"].get<unsigned>() << " for " << s["target_release"].get<std::string>() << "\n";
  if (!generate_only) out << "  module:   " << s["module"].get<std::string>() << "\n";
  for (const auto& f : s["fix_units"]) {
    out << "  fix:      " << f["id"].get<std::string>() << " (" << f["object"].get<std::string>()
        << ")";
    for (const auto& cve : f["cves"]) out << " " << cve.get<std::string>();
    out << "\n";
  }
  for (const auto& f : s["excluded_fixes"]) out << "  excluded: " << f.get<std::string>() << "\n";
  for (const auto& f : s["functions"]) out << "  replaces: " << f.get<std::string>() << "\n";
  for (const auto& d : s["diffs"]) {
    for (const auto& o : d["objects"]) {
      out << "  diff " << d["fix"].get<std::string>() << ": " << o["source"].get<std::string>()
          << " -> " << o["object"].get<std::string>() << "\n";
      for (const auto& f : o["changed_functions"])
        out << "    changed: " << f.get<std::string>() << "\n";
      for (const auto& f : o["new_functions"])
        out << "    new:     " << f.get<std::string>() << "\n";
    }
    if (d.contains("klp_symbols")) {
      for (const auto& k : d["klp_symbols"])
        out << "    klp relocation to: " << k.get<std::string>() << "\n";
    }
    for (const auto& n : d["notes"]) out << "    note: " << n.get<std::string>() << "\n";
  }
}

}  // namespace

int run_build(const BuildOptions& options, std::ostream& out, std::ostream& err) {
  const char* refused_as = "refused";
  try {
    if (options.name.empty() || options.name.size() > 55 ||
        options.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") !=
            std::string::npos) {
      throw BuildError("--name '" + options.name +
                       "': a module name of at most 55 lower-case letters, digits and _");
    }
    if (options.fix_dirs.empty() && !options.diff) {
      throw BuildError("nothing to build: pass --fixes DIR and/or --diff FIX.patch");
    }
    if (options.diff && options.kernels.empty()) {
      throw BuildError("--diff needs --kernel RELEASE (the Debian kernel to build the fix for)");
    }
    const fs::path base = fs::absolute(options.output.value_or(options.name));
    std::vector<std::string> kernels = options.kernels;
    if (kernels.empty()) kernels.push_back("");
    nlohmann::json all = nlohmann::json::array();
    for (const auto& kernel : kernels) {
      // One module per release; several releases get a directory each.
      const fs::path dir = kernels.size() > 1 ? base / kernel : base;
      refused_as = kernel.empty() ? "refused" : "refused";
      all.push_back(build_release(options, kernel, dir, err));
    }
    if (options.json) {
      out << (all.size() == 1 ? all[0] : all).dump(2) << '\n';
    } else {
      for (const auto& s : all) render_text(s, options.generate_only, out);
    }
    return to_int(ExitCode::ok);
  } catch (const BuildError& e) {
    err << "lpmon build: " << e.what() << '\n';
    return to_int(ExitCode::invalid_input);
  } catch (const Refused& e) {
    err << "lpmon build: " << refused_as << ": " << e.what() << "\nno module was built.\n";
    return to_int(ExitCode::invalid_input);
  } catch (const std::exception& e) {
    err << "lpmon build: " << e.what() << '\n';
    return to_int(ExitCode::runtime_error);
  }
}

Command add_build_command(CLI::App& lpmon) {
  struct Options {
    BuildOptions build;
    std::vector<std::string> object_btf;
  };
  auto options = std::make_shared<Options>();
  BuildOptions& o = options->build;
  CLI::App* build = lpmon.add_subcommand(
      "build", "Build a cumulative livepatch module (atomic replace) from fix units and diffs");
  build->add_option("--fixes", o.fix_dirs, "Directory of fix units (repeatable)")
      ->type_name("DIR")
      ->check(existing_dir());
  build
      ->add_option("--diff", o.diff,
                   "A source diff (-p1) to build into the patch from the release's Debian source")
      ->type_name("FIX.patch")
      ->check(CLI::ExistingFile);
  build
      ->add_option("--kernel", o.kernels,
                   "Debian kernel release to build for, e.g. 6.1.0-54-amd64 (repeatable: one "
                   "module per release)")
      ->type_name("RELEASE");
  build->add_option("--cve", o.cves, "CVE id the --diff fixes (default: those in its header)")
      ->type_name("CVE");
  build->add_option("--name", o.name, "Module and patch name, e.g. acme_fixes_v3")->required();
  build
      ->add_option("--version", o.version,
                   "Release: carries every fix whose 'since' is at most this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  build
      ->add_option("--exclude-cve", o.exclude_cves,
                   "Leave out the fixes addressing this CVE (repeatable)")
      ->type_name("CVE");
  build->add_option("--kdir", o.kdir, "Kernel build tree (default: /lib/modules/$(uname -r)/build)")
      ->type_name("DIR")
      ->check(existing_dir());
  build
      ->add_option("--kernel-btf", o.kernel_btf,
                   "vmlinux (or raw BTF) of the target kernel, to check the fixes' functions")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  build
      ->add_option("--object-btf", options->object_btf,
                   "OBJECT=MODULE.ko with BTF, for fixes to a module (repeatable)")
      ->type_name("OBJECT=KO");
  build->add_option("--include", o.include_dirs, "Header directory for the fixes")
      ->type_name("DIR")
      ->check(existing_dir());
  build->add_option("-o,--output", o.output, "Output directory (default: ./NAME)")
      ->type_name("DIR");
  build->add_flag("--generate-only", o.generate_only,
                  "Write the C source and Kbuild file, do not compile");
  build->add_flag("--json", o.json, "Print the summary as JSON");
  return {build, [options](std::ostream& out, std::ostream& err) {
            for (const auto& spec : options->object_btf) {
              const auto eq = spec.find('=');
              if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
                err << "lpmon build: --object-btf '" << spec << "': expected OBJECT=MODULE.ko\n";
                return to_int(ExitCode::usage_error);
              }
              options->build.object_btf[spec.substr(0, eq)] = spec.substr(eq + 1);
            }
            options->build.scripts = lpmon_scripts_dir();
            return run_build(options->build, out, err);
          }};
}

}  // namespace lpmon::cli
