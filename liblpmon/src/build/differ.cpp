#include "differ.hpp"

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "lpmon/build/diff_build.hpp"

namespace lpmon::build {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// y/m options of the tree's .config.
std::map<std::string, std::string> kconfig(const fs::path& tree) {
  std::ifstream in(tree / ".config");
  std::map<std::string, std::string> values;
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (line.starts_with("CONFIG_") && eq != std::string::npos)
      values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

class KpatchDiffer : public Differ {
 public:
  KpatchDiffer(fs::path tools, fs::path tree, std::vector<std::string> sizes)
      : tools_(std::move(tools)), tree_(std::move(tree)), sizes_(std::move(sizes)) {
    const auto config = kconfig(tree_);
    auto on = [&](const char* option) {
      const auto it = config.find(option);
      return it != config.end() && it->second == "y";
    };
    // With IBT (or clang LTO) kbuild runs objtool on vmlinux.o / the module at link time,
    // not on each object; kpatch expects objects as objtool leaves them (prefix symbols
    // before padded functions, .return_sites, ORC), so the pass is run here with the
    // release's options, minus what only makes sense on the linked whole (--ibt, --link).
    if (!on("CONFIG_OBJTOOL") || !(on("CONFIG_X86_KERNEL_IBT") || on("CONFIG_LTO_CLANG"))) return;
    const std::vector<std::pair<const char*, std::string>> options{
        {"CONFIG_HAVE_JUMP_LABEL_HACK", "--hacks=jump_label"},
        {"CONFIG_HAVE_NOINSTR_HACK", "--hacks=noinstr"},
        {"CONFIG_MITIGATION_CALL_DEPTH_TRACKING", "--hacks=skylake"},
        {"CONFIG_UNWINDER_ORC", "--orc"},
        {"CONFIG_MITIGATION_RETPOLINE", "--retpoline"},
        {"CONFIG_MITIGATION_RETHUNK", "--rethunk"},
        {"CONFIG_MITIGATION_SLS", "--sls"},
        {"CONFIG_HAVE_STATIC_CALL_INLINE", "--static-call"},
        {"CONFIG_HAVE_UACCESS_VALIDATION", "--uaccess"}};
    objtool_ = {(tree_ / "tools/objtool/objtool").string()};
    for (const auto& [option, arg] : options)
      if (on(option)) objtool_.push_back(arg);
    if (on("CONFIG_PREFIX_SYMBOLS")) {
      const auto it = config.find("CONFIG_FUNCTION_PADDING_BYTES");
      objtool_.push_back("--prefix=" + (it == config.end() ? "16" : it->second));
    }
  }

  std::string name() const override { return "kpatch create-diff-object"; }
  fs::path tools() const override { return tools_; }

  void prepare_object(const fs::path& object, bool in_module) const override {
    if (objtool_.empty()) return;
    std::vector<std::string> argv = objtool_;
    if (in_module) argv.push_back("--module");
    argv.push_back(object.string());
    const ProcessResult r = run_process(argv);
    if (r.status != 0)
      throw std::runtime_error("objtool failed on " + object.string() + ":\n" +
                               last_lines(r.output, 8));
  }

  std::string vmlinux_symbols(const fs::path& vmlinux_dbg) const override {
    const ProcessResult r = run_process({"readelf", "-s", "--wide", vmlinux_dbg.string()});
    if (r.status != 0) throw std::runtime_error("readelf failed on " + vmlinux_dbg.string());
    if (objtool_.empty()) return r.output;
    // objtool --link adds the prefix symbols (__pfx_f, just before f) at the end of the
    // linked table; kpatch matches a file's locals against its FILE block, where the
    // object's own __pfx_ symbols are: put each one back after its function.
    std::map<std::pair<std::string, std::string>, std::string> prefixes;
    std::vector<std::string> rest;
    std::istringstream in(r.output);
    auto fields = [](const std::string& line) {
      std::istringstream f(line);
      std::vector<std::string> v;
      for (std::string w; f >> w;) v.push_back(w);
      return v;
    };
    for (std::string line; std::getline(in, line);) {
      const auto f = fields(line);
      if (f.size() >= 8 && f[3] == "FUNC" && f[4] == "LOCAL" && f[7].starts_with("__pfx_")) {
        std::ostringstream at;
        at << std::hex << std::stoull(f[1], nullptr, 16) + padding();
        prefixes[{f[7].substr(6), at.str()}] = line;
      } else {
        rest.push_back(line);
      }
    }
    std::string out;
    for (const auto& line : rest) {
      out += line + "\n";
      const auto f = fields(line);
      if (f.size() < 8 || f[3] != "FUNC" || f[4] != "LOCAL") continue;
      std::ostringstream at;
      at << std::hex << std::stoull(f[1], nullptr, 16);
      const auto p = prefixes.find({f[7], at.str()});
      if (p != prefixes.end()) out += p->second + "\n";
    }
    return out;
  }

  ProcessResult diff(const fs::path& orig, const fs::path& patched, const std::string& owner,
                     const fs::path& symbols, const fs::path& symvers, const std::string& unit,
                     const fs::path& out) const override {
    return run_process({(tools_ / "create-diff-object").string(), orig.string(), patched.string(),
                        owner, symbols.string(), symvers.string(), unit, out.string()},
                       {.env = sizes_});
  }

  void finish_object(const fs::path& out) const override {
    if (objtool_.empty()) return;
    // Kbuild runs objtool once more on the whole patch module, and skips the return sites
    // and ORC tables a linked-in object already has: the module's own functions
    // (lpmon_patch_init/exit) would run unpatched return thunks ("Unpatched return thunk
    // in use", seen on 6.12). Dropped here, they are made for the whole module there.
    std::vector<std::string> argv{"objcopy"};
    for (const char* s : {".return_sites", ".rela.return_sites", ".orc_unwind", ".orc_unwind_ip",
                          ".rela.orc_unwind_ip", ".orc_header"})
      argv.push_back(std::string("--remove-section=") + s);
    argv.push_back(out.string());
    const ProcessResult r = run_process(argv);
    if (r.status != 0)
      throw std::runtime_error("objcopy failed on " + out.string() + ":\n" +
                               last_lines(r.output, 8));
  }

 private:
  unsigned long long padding() const {
    for (const auto& a : objtool_)
      if (a.starts_with("--prefix=")) return std::stoull(a.substr(9));
    return 0;
  }
  fs::path tools_, tree_;
  std::vector<std::string> sizes_;
  std::vector<std::string> objtool_;  // empty: kbuild already ran objtool on each object
};

}  // namespace

KernelVersion tree_version(const fs::path& tree) {
  std::ifstream in(tree / "Makefile");
  KernelVersion v;
  static const std::regex line(R"(^(VERSION|PATCHLEVEL) = ([0-9]+))");
  for (std::string text; std::getline(in, text);) {
    std::smatch m;
    if (!std::regex_search(text, m, line)) continue;
    (m[1] == "VERSION" ? v.major : v.minor) = std::stoi(m[2]);
    if (v.major && text.starts_with("PATCHLEVEL")) break;
  }
  if (v.major == 0)
    throw std::runtime_error("no kernel version in " + (tree / "Makefile").string());
  return v;
}

std::unique_ptr<Differ> choose_differ(const fs::path& scripts, const fs::path& tree,
                                      const std::string& release,
                                      const std::vector<std::string>& sizes) {
  const KernelVersion v = tree_version(tree);
  if (v.at_least(6, 19)) {
    throw Refused(release + " is Linux " + std::to_string(v.major) + "." + std::to_string(v.minor) +
                  ": kpatch's create-diff-object, the differ lpmon drives, serves kernels "
                  "before 6.19; from 6.19 on the kernel's own `objtool klp diff` is the tool, "
                  "and lpmon does not drive it yet");
  }
  const ProcessResult r = run_process({(scripts / "kpatch-tools.sh").string()},
                                      {.output = ProcessOutput::capture_stdout});
  if (r.status != 0) throw std::runtime_error("kpatch-tools.sh failed (see above)");
  std::string last = trim(r.output);
  if (const auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
  return std::make_unique<KpatchDiffer>(last, tree, sizes);
}

}  // namespace lpmon::build
