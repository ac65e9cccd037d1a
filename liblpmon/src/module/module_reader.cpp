// The module file reader: one open file, its .modinfo and the name the kernel will use, with
// the ELF (elf_reader), klp arrays (klp_decoder), signature and BTF layout read by their own parts.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "kernel_file.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/kernel_image.hpp"
#include "lpmon/module_inspector.hpp"
#include "module/elf_reader.hpp"
#include "module/klp_decoder.hpp"
#include "module/signature.hpp"

namespace lpmon {

namespace fs = std::filesystem;
using namespace modfile;

namespace {

// A name the kernel gives modules: what KBUILD_MODNAME can be ([A-Za-z0-9_], '-' in names
// given on the command line), shorter than MODULE_NAME_LEN. Anything else (a '/', "..", a
// control character) is a crafted file.
bool is_module_name(std::string_view name, std::size_t limit) {
  return !name.empty() && name.size() < limit && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// "6.1.0-57-amd64": what uname -r can be, and never "." or ".." or a path.
bool is_kernel_release(std::string_view release) {
  return !release.empty() && release.size() <= 64 && release.front() != '.' &&
         std::all_of(release.begin(), release.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '+' || c == '~';
         });
}

// struct module's name[]: after `state` (an enum, padded to a pointer) and `list` (two
// pointers), MODULE_NAME_LEN (64 - sizeof(unsigned long)) bytes, NUL-terminated.
std::string linked_module_name(ModuleElf& elf, std::size_t this_module, const std::string& file) {
  const std::size_t pointer = elf.is64() ? 8 : 4;
  const std::size_t name_offset = pointer + 2 * pointer;
  const std::size_t name_size = 64 - pointer;
  const auto bytes = elf.bytes(this_module, name_offset, name_size);
  if (!bytes) {
    fail(ModuleFileProblem::corrupt, file,
         "malformed module: " + std::string(kThisModuleSection) +
             " is too small to hold struct module's name");
  }
  const auto nul = std::find(bytes->begin(), bytes->end(), std::byte{0});
  const std::string_view name(reinterpret_cast<const char*>(bytes->data()),
                              static_cast<std::size_t>(nul - bytes->begin()));
  if (nul == bytes->end() || !is_module_name(name, name_size)) {
    fail(ModuleFileProblem::corrupt, file,
         "malformed module: its name in " + std::string(kThisModuleSection) + " ('" +
             printable(name) + "') is not a module name (letters, digits, '_' and '-', at most " +
             std::to_string(name_size - 1) + " characters); refusing a crafted file");
  }
  return std::string(name);
}

}  // namespace

ModuleInspector::ModuleInspector(InspectOptions options) : options_(std::move(options)) {}

ModuleInspector::ModuleInspector(KlpLayout layout) : fixed_layout_(layout) {}

std::variant<KlpLayout, std::string> ModuleInspector::layout_for(
    const std::optional<std::string>& release, fs::path& btf) {
  if (fixed_layout_) return *fixed_layout_;
  if (options_.kernel_btf) {
    btf = *options_.kernel_btf;
  } else if (!release) {
    return std::string("no vermagic to find the kernel's BTF by: pass --kernel-btf");
  } else if (auto found = find_kernel_btf(*release, options_.paths)) {
    btf = *found;
  } else {
    return "no BTF of kernel " + *release + " here to read struct klp_func from: pass " +
           "--kernel-btf <vmlinux of " + *release + ">";
  }
  auto [it, inserted] = layouts_.try_emplace(btf, std::string());
  if (inserted) {
    try {
      it->second = KlpLayout::from_btf(btf);
    } catch (const KernelError& e) {
      it->second = std::string(e.what());
    }
  }
  return it->second;
}

const std::optional<std::string>& ModuleInspector::explicit_btf_release() {
  if (!explicit_btf_release_) explicit_btf_release_ = vmlinux_release(*options_.kernel_btf);
  return *explicit_btf_release_;
}

ModuleFile::ModuleFile(const fs::path& path) : path_(path) {
  const std::string file = path.string();
  auto refuse = [&](const struct stat& st, int error) {
    fail(ModuleFileProblem::unreadable, file,
         error                  ? "cannot read: " + detail::errno_message(error)
         : S_ISDIR(st.st_mode)  ? std::string("is a directory")
         : S_ISFIFO(st.st_mode) ? std::string("is a FIFO, not a module file")
         : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
             ? std::string("is a device node, not a module file")
             : std::string("not a regular file"));
  };
  // Checked before opening: opening a device can act on it. O_NONBLOCK and the second check
  // cover a path swapped in between: an open FIFO must not block.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) refuse(st, errno);
  if (!S_ISREG(st.st_mode)) refuse(st, 0);
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) refuse(st, errno);
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int error = S_ISREG(st.st_mode) ? errno : 0;
    ::close(fd_);
    fd_ = -1;
    refuse(st, error);
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

ModuleFile::~ModuleFile() {
  if (fd_ >= 0) ::close(fd_);
}

ModuleInfo ModuleInspector::inspect(const fs::path& module) {
  return inspect(ModuleFile(module));
}

ModuleInfo ModuleInspector::inspect(const ModuleFile& module) {
  const std::string file = module.path().string();
  if (module.size() == 0)
    fail(ModuleFileProblem::not_a_module, file, "empty file, not a kernel module");
  // Private and writable: libelf may convert data in place, and the file never changes. Mapped,
  // not read: only headers, .modinfo and the data sections are touched, not debug info.
  void* map = mmap(nullptr, module.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE, module.fd(), 0);
  if (map == MAP_FAILED) fail(ModuleFileProblem::unreadable, file, detail::errno_message(errno));
  struct Unmap {
    void* map;
    std::size_t size;
    ~Unmap() { munmap(map, size); }
  } unmap{map, static_cast<std::size_t>(module.size())};
  return inspect_image(static_cast<char*>(map), unmap.size, file);
}

ModuleInfo ModuleInspector::inspect(Bytes image, const std::string& file) {
  std::vector<char> copy(reinterpret_cast<const char*>(image.data()),
                         reinterpret_cast<const char*>(image.data()) + image.size());
  return inspect_image(copy.data(), copy.size(), file);
}

ModuleInfo ModuleInspector::inspect_image(char* data, std::size_t size, const std::string& file) {
  const Bytes image(reinterpret_cast<const std::byte*>(data), size);
  ModuleElf elf(data, size, file);

  ModuleInfo info;
  info.file = file;
  const auto this_module = elf.find(kThisModuleSection);
  const auto modinfo = elf.find(".modinfo");
  if (!this_module) {
    fail(ModuleFileProblem::not_a_module, file,
         modinfo ? "an object file not linked into a module by modpost (no " +
                       std::string(kThisModuleSection) + ")"
                 : "a relocatable ELF object without .modinfo, not a kernel module");
  }
  if (modinfo) {
    const Bytes bytes = elf.bytes(*modinfo);
    for (const std::string& entry :
         split(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), '\0')) {
      const auto eq = entry.find('=');
      if (eq == std::string::npos) continue;
      info.modinfo.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    }
  }
  auto first = [&](std::string_view key) -> std::optional<std::string> {
    for (const auto& [k, v] : info.modinfo) {
      if (k == key) return v;
    }
    return std::nullopt;
  };

  // The kernel names the module by struct module's name[] in .gnu.linkonce.this_module
  // (load_module() uses mod->name for /sys/module, delete_module and livepatch's sysfs), not
  // by .modinfo's name=. That name reaches paths (/sys/module/<name>, lpmon verify's cache, the
  // guest's params file), so anything but a plain module name refuses the file.
  info.name = linked_module_name(elf, *this_module, file);
  if (const auto declared = first("name"); declared && *declared != info.name) {
    info.notes.push_back(".modinfo names the module '" + printable(*declared) + "' but " +
                         std::string(kThisModuleSection) + " names it " + info.name +
                         " (the kernel uses the latter)");
  }
  info.livepatch = first("livepatch") == "Y";
  info.vermagic = first("vermagic");
  if (info.vermagic) {
    const auto words = split(*info.vermagic, ' ');
    // The release names directories (kernel caches, /lib/modules/<release>): only a plain one.
    if (!words.empty() && is_kernel_release(words.front())) {
      info.release = words.front();
    } else if (!words.empty()) {
      info.notes.push_back("the vermagic's release '" + printable(words.front()) +
                           "' is not a kernel release: ignored");
    }
  }
  info.license = first("license");
  info.description = first("description");
  info.version = first("version");
  info.srcversion = first("srcversion");
  if (const auto depends = first("depends")) info.depends = split(*depends, ',');
  info.signature = read_signature(image, info.notes);
  info.has_btf = elf.find(".BTF").has_value();
  info.has_modversions = elf.find("__versions").has_value();

  const bool lpmon_built = std::any_of(info.modinfo.begin(), info.modinfo.end(),
                                       [](const auto& e) { return e.first.starts_with("lpmon_"); });
  if (lpmon_built) {
    LpmonMetadata m;
    m.cves = split(first("lpmon_cves").value_or(""), ',');
    m.excluded_cves = split(first("lpmon_excluded_cves").value_or(""), ',');
    m.fixes = split(first("lpmon_fixes").value_or(""), ',');
    m.target_release = first("lpmon_target_release").value_or("");
    m.built = first("lpmon_built").value_or("");
    info.lpmon = std::move(m);
  }
  if (!info.livepatch) return info;

  std::optional<std::vector<PatchedObject>> listed;
  if (const auto functions = first("lpmon_functions")) {
    listed = parse_lpmon_functions(*functions);
    if (!listed) info.notes.push_back("lpmon_functions in .modinfo is malformed: ignored");
  }
  PatchContents& patch = info.patch;
  fs::path btf;
  const auto layout = layout_for(info.release, btf);
  if (const auto* reason = std::get_if<std::string>(&layout)) {
    patch.elf_unknown_reason = *reason;
  } else {
    if (!btf.empty()) patch.layout_btf = btf;
    auto decoded = find_patch(elf, std::get<KlpLayout>(layout), info.notes);
    if (auto* found = std::get_if<DecodedPatch>(&decoded)) {
      patch.replace = found->replace;
      patch.replace_source = PatchSource::elf;
      patch.objects = std::move(found->objects);
      patch.objects_source = PatchSource::elf;
      patch.klp_patch_location = found->location;
      if (listed && *listed != *patch.objects) {
        info.notes.push_back(
            "lpmon_functions in .modinfo differs from the klp_func arrays; showing the arrays, "
            "which are what klp patches");
      }
    } else {
      patch.elf_unknown_reason = std::get<std::string>(decoded);
    }
    // A layout from another kernel's BTF may not fit this module. A BTF found by the module's
    // own release matches by construction; only one given explicitly is checked.
    if (options_.kernel_btf && !fixed_layout_ && info.release) {
      if (const auto& btf_release = explicit_btf_release();
          btf_release && btf_release != info.release) {
        info.notes.push_back("the klp layout is from the BTF of kernel " + *btf_release +
                             ", the module is built for " + *info.release);
      }
    }
  }
  if (!patch.objects && listed) {
    patch.objects = std::move(listed);
    patch.objects_source = PatchSource::lpmon_build;
  }
  if (!patch.replace && lpmon_built) {
    patch.replace = true;  // every patch lpmon build makes is cumulative
    patch.replace_source = PatchSource::lpmon_build;
  }
  return info;
}

VermagicCheck check_vermagic(const ModuleInfo& module, std::string_view kernel_release) {
  if (!module.release) {
    return {false, "unknown: the module has no vermagic (the kernel refuses it unless forced)"};
  }
  if (*module.release == kernel_release) return {true, "matches"};
  return {false,
          "mismatch: built for " + *module.release + ", kernel is " + std::string(kernel_release)};
}

}  // namespace lpmon
