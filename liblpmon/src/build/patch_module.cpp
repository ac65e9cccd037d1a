#include "lpmon/build/patch_module.hpp"

#include <cctype>
#include <fstream>
#include <stdexcept>

#include "lpmon/build/diff_build.hpp"
#include "lpmon/build/elf_object.hpp"
#include "lpmon/util/process.hpp"

namespace lpmon::build {

namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

bool is_elf(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

std::string c_name(std::string s) {
  for (auto& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

// Runs argv, appending its output to the build log; true when it succeeded.
bool run_logged(const std::vector<std::string>& argv, const fs::path& log) {
  const ProcessResult r = run_process(argv);
  std::ofstream(log, std::ios::app) << r.output;
  return r.status == 0;
}

}  // namespace

ModuleResult build_patch_module(const FixSelection& selection, const PatchMetadata& metadata,
                                const ModuleBuild& build) {
  const fs::path& dir = build.dir;
  fs::create_directories(dir);
  std::vector<std::string> diff_objects;
  for (const auto& unit : selection.included) {
    if (!unit.patch.empty()) {
      const std::string object = "lpmon_diff_" + c_name(unit.id) + ".o";
      fs::copy_file(unit.diff_object, dir / object, fs::copy_options::overwrite_existing);
      write_file(dir / ("." + object + ".cmd"), "");  // a prebuilt object: nothing to rebuild
      diff_objects.push_back(object);
    } else {
      fs::copy_file(unit.dir / "fix.c", dir / (unit.id + ".fix.c"),
                    fs::copy_options::overwrite_existing);
    }
  }
  // With diff objects the module links several objects, so its C file needs another name.
  std::string kbuild = "obj-m := " + metadata.name + ".o\n";
  if (!diff_objects.empty()) {
    write_file(dir / (metadata.name + "-main.c"), generate_patch_source(selection, metadata));
    kbuild += metadata.name + "-y := " + metadata.name + "-main.o";
    for (const auto& o : diff_objects) kbuild += " " + o;
    kbuild += "\n";
  } else {
    write_file(dir / (metadata.name + ".c"), generate_patch_source(selection, metadata));
  }
  for (const auto& include : build.include_dirs) {
    kbuild += "ccflags-y += -I" + fs::absolute(include).string() + "\n";
  }
  write_file(dir / "Kbuild", kbuild);

  ModuleResult result;
  result.ko = dir / (metadata.name + ".ko");
  if (build.generate_only) return result;
  const fs::path log = dir / "build.log";
  fs::remove(log);
  std::vector<std::string> make{"make", "-C", build.kdir.string(), "M=" + dir.string()};
  if (!build.compiler.empty()) {
    make.push_back("CC=" + build.compiler);
    make.push_back("KERNELRELEASE=" + build.release);
  }
  make.push_back("modules");
  if (!run_logged(make, log)) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    throw std::runtime_error("Kbuild failed for " + metadata.name + "; the end of " + log.string() +
                             ":\n" + last_lines(text, 20));
  }
  if (!diff_objects.empty()) {
    finish_klp_module(build.kpatch_tools, result.ko);
    // What the kernel resolves at load time: .klp.sym.<object>.<symbol>,<position>.
    const ElfObject module(result.ko);
    for (const auto& sym : module.symbols()) {
      if (sym.name.starts_with(".klp.sym.")) result.klp_symbols.push_back(sym.name.substr(9));
    }
  } else if (is_elf(build.kernel_btf) &&
             !run_logged({"pahole", "-J", "--btf_gen_floats", "-j", "--lang_exclude=rust",
                          "--btf_base", build.kernel_btf.string(), result.ko.string()},
                         log)) {
    // fentry on the replacement functions (lpmon trace) needs the module's BTF, which
    // Kbuild only adds when the headers ship vmlinux.
    result.warnings.push_back("pahole could not add BTF to " + result.ko.string() +
                              " (see build.log); tracing its functions with fentry will not "
                              "work");
  }
  return result;
}

}  // namespace lpmon::build
