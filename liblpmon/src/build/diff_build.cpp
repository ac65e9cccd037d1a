#include "lpmon/build/diff_build.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "differ.hpp"
#include "header_changes.hpp"
#include "lpmon/build/elf_object.hpp"
#include "lpmon/build/lookup_table.hpp"
#include "lpmon/util/process.hpp"
#include "object_checks.hpp"

namespace lpmon::build {

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A script of lpmon's (kernel-source.sh, kpatch-tools.sh) whose last output line is a path.
fs::path script_path(const fs::path& scripts, const std::vector<std::string>& argv,
                     bool refusal_on_3) {
  std::vector<std::string> args{(scripts / argv[0]).string()};
  args.insert(args.end(), argv.begin() + 1, argv.end());
  // Their progress (downloads, make prepare) goes to the user as it happens.
  const ProcessResult r = run_process(args, {.output = ProcessOutput::capture_stdout});
  if (r.status == 3 && refusal_on_3) {
    throw Refused("the source of " + argv.back() + " cannot be prepared (see above)");
  }
  if (r.status != 0) throw std::runtime_error(argv[0] + " failed (see above)");
  std::string last = trim(r.output);
  if (const auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
  return last;
}

// The files a unified diff changes (new names, -p1), in order.
std::vector<std::string> changed_files(const fs::path& patch) {
  std::ifstream in(patch);
  if (!in) throw std::runtime_error("cannot read " + patch.string());
  std::vector<std::string> files;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("+++ ")) continue;
    std::string name = line.substr(4);
    if (const auto tab = name.find('\t'); tab != std::string::npos) name.resize(tab);
    if (name == "/dev/null") throw Refused("the diff deletes a file: not a livepatchable change");
    const auto slash = name.find('/');
    if (slash == std::string::npos) throw Refused("diff path '" + name + "' has no -p1 prefix");
    name = name.substr(slash + 1);
    if (name.find("..") != std::string::npos || name.starts_with("/")) {
      throw Refused("diff path '" + name + "' leaves the source tree");
    }
    files.push_back(name);
  }
  if (files.empty()) throw Refused(patch.string() + " is not a unified diff (no +++ lines)");
  return files;
}

struct Tree {
  fs::path root;  // the prepared linux tree
  std::string release;
  std::string cc;
  std::vector<std::string> make(const std::string& target, bool function_sections) const {
    std::vector<std::string> argv{
        "make", "-s", "-C", root.string(), "CC=" + cc, "KERNELRELEASE=" + release, target};
    if (function_sections) argv.push_back("KCFLAGS=-ffunction-sections -fdata-sections");
    return argv;
  }
};

// Compiles one object with kbuild; returns a copy in `into`.
fs::path compile(const Tree& tree, const std::string& object, bool function_sections,
                 const fs::path& into) {
  fs::remove(tree.root / object);
  const ProcessResult r = run_process(tree.make(object, function_sections));
  if (r.status != 0 || !fs::exists(tree.root / object)) {
    throw std::runtime_error("kbuild could not compile " + object + ":\n" +
                             last_lines(r.output, 15));
  }
  fs::create_directories((into / object).parent_path());
  fs::copy_file(tree.root / object, into / object, fs::copy_options::overwrite_existing);
  return into / object;
}

// Which kernel object a compiled file belongs to: its KBUILD_MODNAME when built -DMODULE.
std::string owner_of(const Tree& tree, const std::string& object) {
  const fs::path o(object);
  const std::string cmd =
      read_text(tree.root / o.parent_path() / ("." + o.filename().string() + ".cmd"));
  if (cmd.find("-DMODULE ") == std::string::npos) return "vmlinux";
  static const std::regex modname(R"re(-DKBUILD_MODNAME='"([A-Za-z0-9_]+)"')re");
  std::smatch m;
  if (!std::regex_search(cmd, m, modname))
    throw std::runtime_error("no KBUILD_MODNAME for " + object);
  return m[1];
}

// The release's module file, decompressed into `work`.
fs::path module_file(const fs::path& kernel_root, const std::string& release,
                     const std::string& module, const fs::path& work) {
  const fs::path dir = kernel_root / "root/lib/modules" / release / "kernel";
  std::string dashed = module;
  for (auto& c : dashed) c = c == '_' ? '-' : c;
  if (fs::exists(dir)) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      for (const auto& candidate : {module, dashed}) {
        if (name == candidate + ".ko") return e.path();
        if (name == candidate + ".ko.xz") {
          const fs::path out = work / (module + ".ko");
          const ProcessResult r =
              run_process({"sh", "-c", "xz -dc \"$0\" > \"$1\"", e.path().string(), out.string()});
          if (r.status != 0) throw std::runtime_error("cannot decompress " + e.path().string());
          return out;
        }
      }
    }
  }
  throw Refused("module " + module + " is not part of " + release +
                "'s image package: the changed file is not built in the release's config");
}

// Sizes of the special-section entries create-diff-object walks, from the kernel's BTF.
std::vector<std::string> struct_sizes(const fs::path& vmlinux, const fs::path& cache) {
  if (!fs::exists(cache)) {
    std::string text;
    for (const auto& [var, type] : std::vector<std::pair<std::string, std::string>>{
             {"ALT_STRUCT_SIZE", "alt_instr"},
             {"BUG_STRUCT_SIZE", "bug_entry"},
             {"EX_STRUCT_SIZE", "exception_table_entry"},
             {"PRINTK_INDEX_STRUCT_SIZE", "pi_entry"},
             {"JUMP_STRUCT_SIZE", "jump_entry"},
             {"ORC_STRUCT_SIZE", "orc_entry"},
             {"PARA_STRUCT_SIZE", "paravirt_patch_site"},
             {"STATIC_CALL_STRUCT_SIZE", "static_call_site"}}) {
      const ProcessResult r = run_process({"pahole", "-F", "btf", "-C", type, vmlinux.string()});
      std::smatch m;
      static const std::regex size(R"(/\* size: ([0-9]+),)");
      if (r.status == 0 && std::regex_search(r.output, m, size))
        text += var + "=" + m[1].str() + "\n";
    }
    write_text(cache, text);
  }
  std::vector<std::string> env;
  std::istringstream in(read_text(cache));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) env.push_back(line);
  return env;
}

std::vector<std::string> lines_after(const std::string& log, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find(prefix);
    if (at != std::string::npos) out.push_back(trim(line.substr(at + prefix.size())));
  }
  return out;
}

// Restores the files a diff changed in the shared source tree, whatever happens.
class PatchedTree {
 public:
  PatchedTree(const fs::path& root, const std::vector<std::string>& files, const fs::path& backup)
      : root_(root), backup_(backup) {
    for (const auto& f : files) {
      if (fs::exists(root / f)) {
        fs::create_directories((backup / f).parent_path());
        fs::copy_file(root / f, backup / f, fs::copy_options::overwrite_existing);
        saved_.push_back(f);
        times_.push_back(fs::last_write_time(root / f));
      } else {
        created_.push_back(f);
      }
    }
  }
  ~PatchedTree() {
    std::error_code ec;
    // With their old times too: a header newer than what kbuild built from it would have
    // the next build remake everything that includes it.
    for (std::size_t i = 0; i < saved_.size(); ++i) {
      fs::copy_file(backup_ / saved_[i], root_ / saved_[i], fs::copy_options::overwrite_existing,
                    ec);
      fs::last_write_time(root_ / saved_[i], times_[i], ec);
    }
    for (const auto& f : created_) fs::remove(root_ / f, ec);
  }
  PatchedTree(const PatchedTree&) = delete;
  PatchedTree& operator=(const PatchedTree&) = delete;

 private:
  fs::path root_, backup_;
  std::vector<std::string> saved_, created_;
  std::vector<fs::file_time_type> times_;
};

// One build at a time per release: the cached source tree is patched and built in place.
class TreeLock {
 public:
  TreeLock(const fs::path& file, const std::function<void(const std::string&)>& waiting)
      : fd_(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw std::runtime_error("cannot open " + file.string());
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    waiting("waiting for another lpmon build that uses this release's source");
    if (::flock(fd_, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + file.string());
  }
  ~TreeLock() { ::close(fd_); }
  TreeLock(const TreeLock&) = delete;
  TreeLock& operator=(const TreeLock&) = delete;

 private:
  int fd_;
};

}  // namespace

fs::path prepare_release(const fs::path& scripts, const std::string& release) {
  return script_path(scripts, {"kernel-source.sh", "--release", release}, true);
}

std::vector<std::string> cves_in_diff_header(const fs::path& patch) {
  std::ifstream in(patch);
  std::set<std::string> cves;
  static const std::regex cve(R"(CVE-[0-9]{4}-[0-9]{4,})");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("diff ") || line.starts_with("--- ") || line.starts_with("Index: ")) break;
    for (std::sregex_iterator it(line.begin(), line.end(), cve), end; it != end; ++it)
      cves.insert(it->str());
  }
  return {cves.begin(), cves.end()};
}

namespace {

// Applies the diff for real, after its dry run has shown that it applies exactly.
void apply_diff(const fs::path& root, const fs::path& patch) {
  const ProcessResult applied =
      run_process({"patch", "-p1", "-F0", "-s", "-i", fs::absolute(patch).string()}, {.cwd = root});
  if (applied.status != 0)
    throw std::runtime_error("patch failed after a clean dry run:\n" +
                             last_lines(applied.output, 8));
}

}  // namespace

DiffBuild build_diff(const DiffBuildRequest& request) {
  auto progress = [&](const std::string& what) {
    if (request.progress) request.progress(what);
  };
  DiffBuild result;
  result.cves = cves_in_diff_header(request.patch);
  const std::vector<std::string> files = changed_files(request.patch);
  std::vector<std::string> headers;
  for (const auto& f : files) {
    if (f.ends_with(".h")) headers.push_back(f);
    if (!f.ends_with(".c") && !f.ends_with(".h")) {
      throw Refused("the diff changes " + f +
                    ": only .c files and static inline functions of headers can be livepatched");
    }
  }

  progress("preparing the source of " + request.release + " (once per release, cached)");
  const fs::path cache = prepare_release(request.tools, request.release);
  const TreeLock lock(cache / ".lpmon-build.lock", progress);
  Tree tree{cache / "linux", request.release, trim(read_text(cache / "linux/.lpmon-cc"))};
  result.kbuild_tree = tree.root;
  result.compiler = tree.cc;
  progress("object differ");
  const auto differ = choose_differ(request.tools, tree.root, request.release,
                                    struct_sizes(cache / "vmlinux", cache / "struct-sizes"));
  result.kpatch_tools = differ->tools();

  // Exactly: no fuzz, so the diff means in this tree what it meant where it was written.
  const ProcessResult dry = run_process(
      {"patch", "-p1", "-F0", "--dry-run", "-s", "-i", fs::absolute(request.patch).string()},
      {.cwd = tree.root});
  if (dry.status != 0) {
    throw Refused("the diff does not apply exactly to the source of " + request.release + ":\n" +
                  last_lines(dry.output, 8));
  }

  const fs::path work = request.work;
  // The .c files to compile: the diff's, then those a changed header inline may be compiled
  // into (header -> its users); create-diff-object tells which of them really changed.
  std::vector<std::string> sources;
  for (const auto& f : files)
    if (f.ends_with(".c")) sources.push_back(f);
  std::map<std::string, std::string> via_header;
  if (!headers.empty()) {
    std::map<std::string, std::string> old_text, new_text;
    for (const auto& h : headers) old_text[h] = read_text(tree.root / h);
    {
      PatchedTree guard(tree.root, files, work / "backup");
      apply_diff(tree.root, request.patch);
      for (const auto& h : headers) new_text[h] = read_text(tree.root / h);
    }
    for (const auto& h : headers) {
      const auto inlines =
          changed_inline_functions(h, old_text[h], new_text[h], changed_lines(request.patch, h));
      if (inlines.empty()) continue;  // comments only
      progress("finding the files that use " + h + "'s changed inline functions");
      std::string users;
      for (const auto& user : header_users(tree.root, h, inlines)) {
        users += (users.empty() ? "" : ", ") + user;
        if (std::find(sources.begin(), sources.end(), user) != sources.end()) continue;
        sources.push_back(user);
        via_header[user] = h;
      }
      std::string names;
      for (const auto& n : inlines) names += (names.empty() ? "" : ", ") + n;
      result.notes.push_back(h + ": changed inline " + names + "; used in " +
                             (users.empty() ? "no .c file" : users) + " (rebuilt and compared)");
    }
  }

  fs::remove_all(work / "orig");
  fs::remove_all(work / "patched");
  fs::remove_all(work / "plain");
  fs::remove_all(work / "output");
  fs::create_directories(work / "output");

  const ElfObject vmlinux(cache / "vmlinux-dbg");

  struct Pending {
    std::string source, object, owner;
    fs::path orig, patched, shipped;
  };
  std::vector<Pending> pending;
  for (const auto& source : sources) {
    Pending p;
    p.source = source;
    p.object = source.substr(0, source.size() - 2) + ".o";
    progress("compiling " + p.object + " as shipped");
    try {
      const ElfObject plain(compile(tree, p.object, false, work / "plain"));
      p.owner = owner_of(tree, p.object);
      if (p.owner != "vmlinux") {
        p.shipped = module_file(cache / "kernel", request.release, p.owner, work);
        check_reproduces(plain, source, p.owner, request.release, ElfObject(p.shipped),
                         result.notes);
      } else {
        check_reproduces(plain, source, p.owner, request.release, vmlinux, result.notes);
      }
    } catch (const std::exception& e) {
      // A header's user that this config does not build cannot have inlined anything.
      const auto h = via_header.find(source);
      const std::string why = e.what();
      const bool unbuilt = why.find("not built") != std::string::npos ||
                           why.find("could not compile") != std::string::npos;
      if (h == via_header.end() || !unbuilt) throw;
      result.notes.push_back(source + " (uses " + h->second + ") is not built in " +
                             request.release + "'s config: skipped");
      continue;
    }
    progress("compiling " + p.object + " before the diff (function sections)");
    p.orig = compile(tree, p.object, true, work / "orig");
    differ->prepare_object(p.orig, p.owner != "vmlinux");
    pending.push_back(p);
  }
  {
    PatchedTree guard(tree.root, files, work / "backup");
    apply_diff(tree.root, request.patch);
    for (auto& p : pending) {
      progress("compiling " + p.object + " after the diff");
      p.patched = compile(tree, p.object, true, work / "patched");
      differ->prepare_object(p.patched, p.owner != "vmlinux");
    }
  }
  // The tree is back as the release shipped it; rebuild its objects lazily next time.

  std::vector<fs::path> outputs;
  for (const auto& p : pending) {
    progress("comparing " + p.object + " (struct layouts, then create-diff-object)");
    check_struct_layouts(p.source, p.orig, p.patched);
    LookupNotes lookup_notes;
    fs::path table_file = work / (p.object + ".symtab");
    if (p.owner == "vmlinux") {
      // The -dbg vmlinux has kpatch's STT_FILE blocks: its own table, as kpatch-build uses.
      table_file = cache / "vmlinux.differ-symtab";
      if (!fs::exists(table_file)) {
        write_text(table_file.string() + ".tmp", differ->vmlinux_symbols(cache / "vmlinux-dbg"));
        fs::rename(table_file.string() + ".tmp", table_file);
      }
    } else {
      fs::create_directories(table_file.parent_path());
      write_text(table_file, lookup_table(read_module_symbols(ElfObject(p.shipped)),
                                          ElfObject(p.orig), lookup_notes));
    }
    for (const auto& m : lookup_notes.missing) {
      result.notes.push_back(p.source + ": local " + m + " is not in " + p.owner + "'s symbols");
    }
    for (const auto& a : lookup_notes.ambiguous) {
      result.notes.push_back(p.source + ": local " + a + " has same-named twins in " + p.owner +
                             "; located by nearness to the file's other symbols");
    }
    const fs::path out = work / "output" / p.object;
    fs::create_directories(out.parent_path());
    const ProcessResult cdo = differ->diff(p.orig, p.patched, p.owner, table_file,
                                           tree.root / "Module.symvers", request.unit, out);
    write_text(out.string() + ".log", cdo.output);
    if (cdo.status == 3) continue;  // no functional change in this file
    if (cdo.status != 0) throw Refused(refusal_from_log(p.source, cdo.output));
    differ->finish_object(out);
    DiffObject changed{p.source, p.owner, lines_after(cdo.output, "changed function: "),
                       lines_after(cdo.output, "new function: ")};
    result.objects.push_back(changed);
    outputs.push_back(out);
  }
  if (result.objects.empty()) {
    throw Refused("the diff makes no functional change to the code of " + request.release +
                  " (only comments, line numbers or unused code): there is nothing to patch");
  }

  // One relocatable object; the patch module finds each changed function through the
  // .kpatch.funcs table at the symbol added here.
  result.output = work / (request.unit + ".o");
  std::vector<std::string> ld{"ld", "-r", "-o", result.output.string()};
  for (const auto& o : outputs) ld.push_back(o.string());
  if (const ProcessResult r = run_process(ld); r.status != 0)
    throw std::runtime_error("ld -r failed:\n" + last_lines(r.output, 8));
  const ProcessResult sym = run_process(
      {"objcopy", "--add-symbol", "lpmon_funcs_" + request.unit + "=.kpatch.funcs:0,global,object",
       result.output.string()});
  if (sym.status != 0) throw std::runtime_error("objcopy failed:\n" + last_lines(sym.output, 8));

  // The combined table's order: each entry's first field relocates to the new function.
  const ElfObject linked(result.output);
  const auto funcs = linked.section_index(".kpatch.funcs");
  if (!funcs) throw std::runtime_error(result.output.string() + " has no .kpatch.funcs");
  constexpr std::uint64_t kEntry = 7 * 8;  // struct kpatch_patch_func
  const auto bytes = linked.section_bytes(*funcs);
  std::map<std::uint64_t, std::string> names;
  for (const auto& r : linked.relocations(*funcs)) {
    if (r.offset % kEntry == 0) names[r.offset / kEntry] = r.symbol;
  }
  // objname comes from the strings table; each output file is for one kernel object.
  std::size_t index = 0;
  for (std::size_t i = 0; i < result.objects.size(); ++i) {
    const std::size_t n = result.objects[i].changed_functions.size() + 0;
    for (std::size_t j = 0; j < n; ++j, ++index) {
      std::uint64_t sympos = 0;
      const std::size_t at = index * kEntry + 4 * 8;
      if (at + 8 <= bytes.size()) {
        for (int b = 7; b >= 0; --b) sympos = (sympos << 8) | bytes[at + b];
      }
      result.functions.push_back(result.objects[i].object + ":" + names[index] +
                                 (sympos ? "," + std::to_string(sympos) : ""));
    }
  }
  if (index * kEntry != bytes.size()) {
    throw std::runtime_error("create-diff-object's function table has " +
                             std::to_string(bytes.size() / kEntry) + " entries, the log names " +
                             std::to_string(index));
  }
  return result;
}

void finish_klp_module(const fs::path& tools, const fs::path& ko) {
  const fs::path tmp = ko.string() + ".pre-klp";
  fs::rename(ko, tmp);
  const ProcessResult r = run_process({(tools / "create-klp-module").string(),
                                       "--no-klp-arch-sections", tmp.string(), ko.string()});
  if (r.status != 0)
    throw std::runtime_error("create-klp-module failed:\n" + last_lines(r.output, 10));
}

}  // namespace lpmon::build
