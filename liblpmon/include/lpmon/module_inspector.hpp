#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "lpmon/kernel_paths.hpp"

namespace lpmon {

// Why a file cannot be inspected at all; `lpmon inspect` has one exit code per kind.
enum class ModuleFileProblem {
  unreadable,    // missing, not a regular file, or no permission
  not_a_module,  // not ELF, or an ELF that is not a loadable kernel module
  corrupt,       // starts as an ELF but is truncated or malformed
};

// The message is one line naming the file and what is wrong with it.
class ModuleFileError : public std::runtime_error {
 public:
  ModuleFileError(ModuleFileProblem problem, const std::string& message)
      : std::runtime_error(message), problem_(problem) {}
  ModuleFileProblem problem() const { return problem_; }

 private:
  ModuleFileProblem problem_;
};

// A module file opened once for reading: lpmon inspects this open file and gives the same
// descriptor to finit_module, so the kernel loads the file that was checked, not whatever the
// path names by then.
class ModuleFile {
 public:
  // Refuses anything but a regular file (a FIFO or device node would block or act when read)
  // before opening it, and checks the opened file again. Throws ModuleFileError (unreadable).
  explicit ModuleFile(const std::filesystem::path& path);
  ~ModuleFile();
  ModuleFile(const ModuleFile&) = delete;
  ModuleFile& operator=(const ModuleFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Where struct klp_func, klp_object and klp_patch keep the members lpmon reads, in one kernel
// build. Sizes change with the kernel's configuration (struct kobject grows with
// CONFIG_DEBUG_KOBJECT_RELEASE), and klp_patch.replace moved in 5.5 (klp_patch.states), so
// they come from that kernel's BTF, never from a table.
struct KlpLayout {
  std::size_t pointer_size = 0;
  std::size_t func_size = 0;
  std::size_t func_old_name = 0;
  std::size_t func_new_func = 0;
  std::size_t func_old_sympos = 0;
  std::size_t func_old_sympos_size = 0;
  std::size_t object_size = 0;
  std::size_t object_name = 0;
  std::size_t object_funcs = 0;
  std::size_t patch_mod = 0;
  std::size_t patch_objs = 0;
  std::size_t patch_replace = 0;

  // `btf` is a vmlinux with .BTF or raw BTF (/sys/kernel/btf/vmlinux). Throws KernelError
  // naming the file when it has no BTF or no struct klp_func (CONFIG_LIVEPATCH off).
  static KlpLayout from_btf(const std::filesystem::path& btf);
};

struct PatchedFunction {
  std::string name;
  unsigned long sympos = 0;  // as the module declares it: 0 means the name is unique

  auto operator<=>(const PatchedFunction&) const = default;
};

struct PatchedObject {
  std::string name;  // "vmlinux" or a module
  std::vector<PatchedFunction> functions;

  auto operator<=>(const PatchedObject&) const = default;
};

// Where a fact about the patch was read from.
enum class PatchSource {
  unknown,
  elf,          // the klp_patch/klp_object/klp_func arrays, with the kernel's BTF layout
  lpmon_build,  // lpmon_functions in .modinfo; lpmon build always sets replace
};

// What a livepatch module replaces.
struct PatchContents {
  std::optional<bool> replace;
  PatchSource replace_source = PatchSource::unknown;
  std::optional<std::vector<PatchedObject>> objects;  // in klp order
  PatchSource objects_source = PatchSource::unknown;
  // Why the arrays were not read from the ELF; empty when they were.
  std::string elf_unknown_reason;
  std::optional<std::filesystem::path> layout_btf;  // the BTF the layout came from
  std::string klp_patch_location;                   // e.g. ".data+0x100" when decoded
};

struct ModuleSignature {
  bool is_signed = false;
  std::string id_type;         // "PKCS#7", "X.509" or "PGP"
  std::string signer;          // PKCS#7: the issuer's common name, as modinfo prints it
  std::string key_id;          // PKCS#7: the certificate serial, "1A:84:..."
  std::string hash_algorithm;  // "sha256", ...
  std::size_t signature_size = 0;
};

// What `lpmon build` records in .modinfo.
struct LpmonMetadata {
  std::vector<std::string> cves;
  std::vector<std::string> excluded_cves;
  std::vector<std::string> fixes;
  std::string target_release;
  std::string built;
};

struct ModuleInfo {
  std::string file;
  // The name the kernel uses: struct module's in .gnu.linkonce.this_module, always a plain
  // module name ([A-Za-z0-9_-], checked); a differing .modinfo name= is only a note.
  std::string name;
  bool livepatch = false;
  std::optional<std::string> vermagic;
  std::optional<std::string> release;  // the first word of vermagic, when a plain release
  std::optional<std::string> license;
  std::optional<std::string> description;
  std::optional<std::string> version;
  std::optional<std::string> srcversion;
  std::vector<std::string> depends;
  ModuleSignature signature;
  bool has_btf = false;
  bool has_modversions = false;
  PatchContents patch;  // livepatch modules only
  std::optional<LpmonMetadata> lpmon;
  // Oddities worth a look that do not stop the inspection (lpmon_functions disagreeing with
  // the klp_func arrays, a layout from another kernel's BTF, ...).
  std::vector<std::string> notes;
  std::vector<std::pair<std::string, std::string>> modinfo;  // every entry, in file order
};

struct InspectOptions {
  // BTF of the kernel the module is for. Without it the inspector looks for the BTF of the
  // release in the module's vermagic (find_kernel_btf).
  std::optional<std::filesystem::path> kernel_btf;
  KernelPaths paths;
};

// Reads a kernel module file without loading it: .modinfo, signature, sections and, for a
// livepatch, what it replaces. Every offset in the file is bounds-checked: any input gives a
// ModuleInfo or a ModuleFileError, never a crash. Layouts are parsed once per BTF file, so
// one inspector serves many modules.
class ModuleInspector {
 public:
  explicit ModuleInspector(InspectOptions options = {});
  // Decodes with this layout and never reads BTF (tests, fuzzing).
  explicit ModuleInspector(KlpLayout layout);

  // Throws ModuleFileError when the file cannot be read or is not a well-formed module.
  ModuleInfo inspect(const std::filesystem::path& module);
  ModuleInfo inspect(const ModuleFile& module);
  // The same for a module image in memory; `file` only names it in messages.
  ModuleInfo inspect(std::span<const std::byte> image, const std::string& file);

 private:
  // `image` is writable (libelf may convert data in place) and outlives the call.
  ModuleInfo inspect_image(char* image, std::size_t size, const std::string& file);
  // The layout for a module built for `release`, or why there is none.
  std::variant<KlpLayout, std::string> layout_for(const std::optional<std::string>& release,
                                                  std::filesystem::path& btf);

  // The release an explicit --kernel-btf vmlinux belongs to, scanned for once.
  const std::optional<std::string>& explicit_btf_release();

  InspectOptions options_;
  std::optional<KlpLayout> fixed_layout_;
  std::map<std::filesystem::path, std::variant<KlpLayout, std::string>> layouts_;
  std::optional<std::optional<std::string>> explicit_btf_release_;
};

// Where the BTF of kernel `release` is usually found: <sysfs>/kernel/btf/vmlinux when the
// running kernel is that release, else /lib/modules/<release>/build/vmlinux or Debian's
// /usr/lib/debug/boot/vmlinux-<release>. The running kernel's BTF is not used for another
// release: a wrong layout would read the wrong bytes.
std::optional<std::filesystem::path> find_kernel_btf(std::string_view release,
                                                     const KernelPaths& paths);

// Whether the module was built for `kernel_release` (uname -r), by the release in vermagic.
struct VermagicCheck {
  bool matches = false;
  std::string verdict;  // "matches", "mismatch: built for X, kernel is Y", ...
};
VermagicCheck check_vermagic(const ModuleInfo& module, std::string_view kernel_release);

}  // namespace lpmon
