#include "lpmon/module_inspector.hpp"

#include <bpf/btf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "kernel_file.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/kernel_image.hpp"
#include "lpmon/kernel_info.hpp"

namespace lpmon {
namespace {

namespace fs = std::filesystem;
using Bytes = std::span<const std::byte>;

constexpr std::string_view kThisModuleSection = ".gnu.linkonce.this_module";
constexpr std::string_view kSignatureMagic = "~Module signature appended~\n";
constexpr std::size_t kSignatureInfoSize = 12;  // struct module_signature
constexpr std::size_t kMaxSymbolName = 512;     // KSYM_NAME_LEN since 6.1

[[noreturn]] void fail(ModuleFileProblem problem, const std::string& file,
                       const std::string& what) {
  throw ModuleFileError(problem, file + ": " + what);
}

// offset + length <= size, without overflow.
bool in_bounds(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  return offset <= size && length <= size - offset;
}

std::uint64_t read_uint(Bytes bytes, bool big_endian) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i) {
    const std::byte b = bytes[big_endian ? i : bytes.size() - 1 - i];
    value = (value << 8) | std::to_integer<std::uint64_t>(b);
  }
  return value;
}

std::string hex(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// Module strings end up on terminals: control characters become '?'.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const auto end = text.find(separator);
    const std::string_view item = text.substr(0, end);
    if (!item.empty()) items.emplace_back(item);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return items;
}

// What libelf takes on trust: that the ELF header and the section header table are inside
// the file. Checked first so that a cut-off module reads as truncated, not as garbage.
void check_elf_header(Bytes image, const std::string& file) {
  static constexpr std::array<unsigned char, 4> magic{0x7f, 'E', 'L', 'F'};
  const auto* u = reinterpret_cast<const unsigned char*>(image.data());
  const std::size_t size = image.size();
  if (size == 0) fail(ModuleFileProblem::not_a_module, file, "empty file, not a kernel module");
  if (std::memcmp(u, magic.data(), std::min(size, magic.size())) != 0) {
    std::string what = "not an ELF file, so not a kernel module";
    if (size >= 6 && std::memcmp(u,
                                 "\xfd"
                                 "7zXZ\0",
                                 6) == 0) {
      what = "xz-compressed (a .ko.xz): decompress it first (xz -dk)";
    } else if (size >= 4 && std::memcmp(u, "\x28\xb5\x2f\xfd", 4) == 0) {
      what = "zstd-compressed (a .ko.zst): decompress it first (zstd -d)";
    } else if (size >= 2 && u[0] == 0x1f && u[1] == 0x8b) {
      what = "gzip-compressed (a .ko.gz): decompress it first (gunzip -k)";
    }
    fail(ModuleFileProblem::not_a_module, file, what);
  }
  const bool is64 = size > EI_CLASS && u[EI_CLASS] == ELFCLASS64;
  const std::size_t header_size = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (size < header_size) {
    fail(ModuleFileProblem::corrupt, file,
         "truncated ELF: " + std::to_string(size) + " bytes, shorter than its ELF header");
  }
  if (u[EI_CLASS] != ELFCLASS32 && u[EI_CLASS] != ELFCLASS64) {
    fail(ModuleFileProblem::corrupt, file,
         "malformed ELF: unknown class " + std::to_string(u[EI_CLASS]));
  }
  if (u[EI_DATA] != ELFDATA2LSB && u[EI_DATA] != ELFDATA2MSB) {
    fail(ModuleFileProblem::corrupt, file,
         "malformed ELF: unknown byte order " + std::to_string(u[EI_DATA]));
  }
  const bool big = u[EI_DATA] == ELFDATA2MSB;
  auto field = [&](std::size_t offset64, std::size_t offset32, std::size_t size64,
                   std::size_t size32) {
    return is64 ? read_uint(image.subspan(offset64, size64), big)
                : read_uint(image.subspan(offset32, size32), big);
  };
  const auto type = field(offsetof(Elf64_Ehdr, e_type), offsetof(Elf32_Ehdr, e_type), 2, 2);
  if (type != ET_REL) {
    const char* kind = type == ET_EXEC   ? "an executable"
                       : type == ET_DYN  ? "a shared object or PIE executable"
                       : type == ET_CORE ? "a core dump"
                                         : "an ELF file of unknown type";
    fail(ModuleFileProblem::not_a_module, file,
         std::string(kind) + ", not a kernel module (a relocatable ELF .ko)");
  }
  const auto shoff = field(offsetof(Elf64_Ehdr, e_shoff), offsetof(Elf32_Ehdr, e_shoff), 8, 4);
  const auto shentsize =
      field(offsetof(Elf64_Ehdr, e_shentsize), offsetof(Elf32_Ehdr, e_shentsize), 2, 2);
  std::uint64_t shnum = field(offsetof(Elf64_Ehdr, e_shnum), offsetof(Elf32_Ehdr, e_shnum), 2, 2);
  const std::size_t shdr_size = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
  if (shoff == 0) fail(ModuleFileProblem::corrupt, file, "malformed ELF: no section headers");
  if (shentsize != shdr_size) {
    fail(ModuleFileProblem::corrupt, file,
         "malformed ELF: section header size " + std::to_string(shentsize));
  }
  if (shnum == 0) {
    // More than SHN_LORESERVE sections: the count is in section 0's sh_size.
    if (!in_bounds(shoff, shdr_size, size)) {
      fail(ModuleFileProblem::corrupt, file,
           "truncated ELF: section headers start at byte " + std::to_string(shoff) +
               " but the file has " + std::to_string(size));
    }
    shnum = is64 ? read_uint(image.subspan(shoff + offsetof(Elf64_Shdr, sh_size), 8), big)
                 : read_uint(image.subspan(shoff + offsetof(Elf32_Shdr, sh_size), 4), big);
  }
  if (shnum > size / shdr_size || !in_bounds(shoff, shnum * shdr_size, size)) {
    fail(ModuleFileProblem::corrupt, file,
         "truncated ELF: its " + std::to_string(shnum) + " section headers end past byte " +
             std::to_string(size) + ", the end of the file");
  }
}

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

struct ElfDeleter {
  void operator()(Elf* elf) const { elf_end(elf); }
};

struct Section {
  std::string_view name;
  GElf_Shdr header{};
  Elf_Scn* scn = nullptr;
};

// Where a relocated pointer points: into a section of the module, or to a symbol outside it.
struct RelocTarget {
  std::size_t section = SHN_UNDEF;
  std::uint64_t offset = 0;
  bool this_module = false;  // THIS_MODULE, i.e. &__this_module
};

struct Reloc {
  std::uint64_t offset = 0;
  RelocTarget target;
};

// The relocation type of a plain pointer in data (S + A); 0 accepts any type.
std::uint32_t pointer_reloc_type(unsigned machine, bool is64) {
  switch (machine) {
    case EM_X86_64:
      return R_X86_64_64;
    case EM_386:
      return R_386_32;
    case EM_AARCH64:
      return R_AARCH64_ABS64;
    case EM_PPC64:
      return R_PPC64_ADDR64;
    case EM_PPC:
      return R_PPC_ADDR32;
    case EM_S390:
      return is64 ? R_390_64 : R_390_32;
    case EM_RISCV:
      return is64 ? R_RISCV_64 : R_RISCV_32;
    case EM_LOONGARCH:
      return is64 ? R_LARCH_64 : R_LARCH_32;
    case EM_ARM:
      return R_ARM_ABS32;
    default:
      return 0;
  }
}

// One module file parsed by libelf, with its data relocations indexed. Every read goes
// through bytes(), which checks bounds.
class ModuleElf {
 public:
  ModuleElf(char* image, std::size_t size, const std::string& file) : file_(file) {
    check_elf_header(Bytes(reinterpret_cast<const std::byte*>(image), size), file);
    static std::once_flag version_once;
    std::call_once(version_once, [] { elf_version(EV_CURRENT); });
    elf_.reset(elf_memory(image, size));
    if (!elf_ || elf_kind(elf_.get()) != ELF_K_ELF) corrupt("libelf cannot parse it");
    GElf_Ehdr ehdr{};
    if (!gelf_getehdr(elf_.get(), &ehdr)) corrupt("unreadable ELF header");
    is64_ = gelf_getclass(elf_.get()) == ELFCLASS64;
    big_endian_ = ehdr.e_ident[EI_DATA] == ELFDATA2MSB;
    machine_ = ehdr.e_machine;
    std::size_t count = 0;
    std::size_t names = 0;
    if (elf_getshdrnum(elf_.get(), &count) != 0) corrupt("unreadable section count");
    if (elf_getshdrstrndx(elf_.get(), &names) != 0 || names >= count) {
      corrupt("no section name table");
    }
    sections_.resize(count);
    data_.resize(count);
    for (std::size_t i = 1; i < count; ++i) {
      Section& s = sections_[i];
      s.scn = elf_getscn(elf_.get(), i);
      if (!s.scn || !gelf_getshdr(s.scn, &s.header))
        corrupt("unreadable section header " + std::to_string(i));
      const char* name = elf_strptr(elf_.get(), names, s.header.sh_name);
      if (!name) corrupt("section " + std::to_string(i) + " has no name in the name table");
      s.name = name;
      if (s.header.sh_type != SHT_NOBITS &&
          !in_bounds(s.header.sh_offset, s.header.sh_size, size)) {
        fail(ModuleFileProblem::corrupt, file_,
             "truncated ELF: section " + std::string(s.name) + " ends at byte " +
                 std::to_string(s.header.sh_offset + s.header.sh_size) + " but the file has " +
                 std::to_string(size));
      }
    }
  }

  bool is64() const { return is64_; }
  bool big_endian() const { return big_endian_; }

  std::optional<std::size_t> find(std::string_view name) const {
    for (std::size_t i = 1; i < sections_.size(); ++i) {
      if (sections_[i].name == name) return i;
    }
    return std::nullopt;
  }

  // The section's bytes; empty for SHT_NOBITS. Throws ModuleFileError if libelf fails.
  Bytes bytes(std::size_t i) {
    const Elf_Data* data = raw(i);
    return data ? Bytes(static_cast<const std::byte*>(data->d_buf), data->d_size) : Bytes();
  }

  // `length` bytes at `offset` of section i, or nullopt when they are not all in it.
  std::optional<Bytes> bytes(std::size_t i, std::uint64_t offset, std::uint64_t length) {
    if (i == SHN_UNDEF || i >= sections_.size()) return std::nullopt;
    const Bytes all = bytes(i);
    if (!in_bounds(offset, length, all.size())) return std::nullopt;
    return all.subspan(offset, length);
  }

  // "<section>+0x<offset>", for messages.
  std::string where(std::size_t i, std::uint64_t offset) const {
    const std::string name = i < sections_.size() ? std::string(sections_[i].name) : "?";
    return name + "+" + hex(offset);
  }

  // The relocation at exactly this place in a data section, if any.
  const Reloc* reloc_at(std::size_t i, std::uint64_t offset) {
    index_relocations();
    if (i >= relocs_.size()) return nullptr;
    const auto& list = relocs_[i];
    const auto it = std::lower_bound(list.begin(), list.end(), offset,
                                     [](const Reloc& r, std::uint64_t o) { return r.offset < o; });
    return it != list.end() && it->offset == offset ? &*it : nullptr;
  }

  // Every data relocation that points at THIS_MODULE: (section, offset) of the pointer.
  std::vector<std::pair<std::size_t, std::uint64_t>> this_module_pointers() {
    index_relocations();
    std::vector<std::pair<std::size_t, std::uint64_t>> found;
    for (std::size_t i = 0; i < relocs_.size(); ++i) {
      for (const Reloc& r : relocs_[i]) {
        if (r.target.this_module) found.emplace_back(i, r.offset);
      }
    }
    return found;
  }

  bool has_symbol_table() const {
    return std::any_of(sections_.begin(), sections_.end(),
                       [](const Section& s) { return s.header.sh_type == SHT_SYMTAB; });
  }

 private:
  [[noreturn]] void corrupt(const std::string& what) const {
    const char* why = elf_errmsg(-1);
    fail(ModuleFileProblem::corrupt, file_,
         "malformed ELF: " + what + (why ? std::string(" (") + why + ")" : ""));
  }

  Elf_Data* raw(std::size_t i) {
    if (i == SHN_UNDEF || i >= sections_.size() || sections_[i].header.sh_type == SHT_NOBITS) {
      return nullptr;
    }
    if (!data_[i]) {
      Elf_Data* data = elf_getdata(sections_[i].scn, nullptr);
      if (!data) corrupt("cannot read section " + std::string(sections_[i].name));
      if (!data->d_buf) return nullptr;
      data_[i] = data;
    }
    return data_[i];
  }

  bool is_data(std::size_t i) const {
    if (i == SHN_UNDEF || i >= sections_.size()) return false;
    const GElf_Shdr& h = sections_[i].header;
    return h.sh_type == SHT_PROGBITS && (h.sh_flags & SHF_ALLOC) && !(h.sh_flags & SHF_EXECINSTR);
  }

  // Relocations of allocated, non-executable sections only: that is where klp's arrays are,
  // and it skips the many relocations of debug sections.
  void index_relocations() {
    if (indexed_) return;
    indexed_ = true;
    relocs_.resize(sections_.size());
    const std::uint32_t pointer_type = pointer_reloc_type(machine_, is64_);
    for (std::size_t r = 1; r < sections_.size(); ++r) {
      const GElf_Shdr& h = sections_[r].header;
      if (h.sh_type != SHT_RELA && h.sh_type != SHT_REL) continue;
      const std::size_t target = h.sh_info;
      const std::size_t symtab = h.sh_link;
      if (!is_data(target) || symtab == SHN_UNDEF || symtab >= sections_.size() ||
          sections_[symtab].header.sh_type != SHT_SYMTAB) {
        continue;
      }
      Elf_Data* relocs = raw(r);
      Elf_Data* symbols = raw(symtab);
      if (!relocs || !symbols) continue;
      const bool rela = h.sh_type == SHT_RELA;
      const std::size_t entry =
          gelf_fsize(elf_.get(), rela ? ELF_T_RELA : ELF_T_REL, 1, EV_CURRENT);
      const std::size_t pointer = is64_ ? 8 : 4;
      for (std::size_t k = 0; entry && k < relocs->d_size / entry; ++k) {
        GElf_Rela rel{};
        if (rela) {
          if (!gelf_getrela(relocs, static_cast<int>(k), &rel)) break;
        } else {
          GElf_Rel plain{};
          if (!gelf_getrel(relocs, static_cast<int>(k), &plain)) break;
          rel.r_offset = plain.r_offset;
          rel.r_info = plain.r_info;
          // REL keeps the addend in the place it relocates.
          const auto place = bytes(target, plain.r_offset, pointer);
          if (!place) continue;
          rel.r_addend = static_cast<GElf_Sxword>(read_uint(*place, big_endian_));
        }
        if (pointer_type != 0 && GELF_R_TYPE(rel.r_info) != pointer_type) continue;
        GElf_Sym sym{};
        if (!gelf_getsym(symbols, static_cast<int>(GELF_R_SYM(rel.r_info)), &sym)) continue;
        Reloc reloc{rel.r_offset, {}};
        const char* name = elf_strptr(elf_.get(), sections_[symtab].header.sh_link, sym.st_name);
        const bool named_this_module = name && std::strcmp(name, "__this_module") == 0;
        if (sym.st_shndx != SHN_UNDEF && sym.st_shndx < SHN_LORESERVE &&
            sym.st_shndx < sections_.size()) {
          reloc.target.section = sym.st_shndx;
          reloc.target.offset = sym.st_value + static_cast<std::uint64_t>(rel.r_addend);
          reloc.target.this_module =
              named_this_module ||
              (sections_[sym.st_shndx].name == kThisModuleSection && reloc.target.offset == 0);
        } else {
          reloc.target.this_module = named_this_module;
        }
        relocs_[target].push_back(reloc);
      }
    }
    for (auto& list : relocs_) {
      std::stable_sort(list.begin(), list.end(),
                       [](const Reloc& a, const Reloc& b) { return a.offset < b.offset; });
    }
  }

  std::string file_;
  std::unique_ptr<Elf, ElfDeleter> elf_;
  bool is64_ = true;
  bool big_endian_ = false;
  unsigned machine_ = EM_NONE;
  std::vector<Section> sections_;
  std::vector<Elf_Data*> data_;
  bool indexed_ = false;
  std::vector<std::vector<Reloc>> relocs_;
};

// A NUL-terminated symbol name that a relocation points at.
std::optional<std::string> string_at(ModuleElf& elf, const RelocTarget& target) {
  if (target.section == SHN_UNDEF) return std::nullopt;
  const Bytes all = elf.bytes(target.section);
  if (target.offset >= all.size()) return std::nullopt;
  const Bytes rest =
      all.subspan(target.offset, std::min(all.size() - target.offset, kMaxSymbolName));
  const auto nul = std::find(rest.begin(), rest.end(), std::byte{0});
  if (nul == rest.end() || nul == rest.begin()) return std::nullopt;
  std::string name(reinterpret_cast<const char*>(rest.data()), nul - rest.begin());
  const bool symbol_like = std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  return symbol_like ? std::optional(name) : std::nullopt;
}

std::optional<std::string> check_layout(const KlpLayout& l) {
  const std::size_t p = l.pointer_size;
  const bool ok =
      (p == 4 || p == 8) && l.func_old_sympos_size >= 1 && l.func_old_sympos_size <= 8 &&
      in_bounds(l.func_old_name, p, l.func_size) && in_bounds(l.func_new_func, p, l.func_size) &&
      in_bounds(l.func_old_sympos, l.func_old_sympos_size, l.func_size) &&
      in_bounds(l.object_name, p, l.object_size) && in_bounds(l.object_funcs, p, l.object_size) &&
      l.patch_mod <= 4096 && l.patch_objs <= 4096 && l.patch_replace <= 4096;
  if (ok) return std::nullopt;
  return "the klp struct layout is inconsistent (pointer size " + std::to_string(p) + ")";
}

struct DecodedPatch {
  std::vector<PatchedObject> objects;
  bool replace = false;
  std::string location;
};

// Reads one klp_patch and the arrays it points to, the way klp_init_patch() walks them: objects
// until one with neither name nor funcs, functions until one with neither old_name, new_func
// nor old_sympos. Returns why it is not a well-formed klp_patch otherwise.
class PatchDecoder {
 public:
  PatchDecoder(ModuleElf& elf, const KlpLayout& layout) : elf_(elf), l_(layout) {}

  // Real patches have hundreds of entries at most; a crafted file could make every candidate
  // walk long arrays again and again. All candidates share this many array entries.
  static constexpr std::size_t kMaxEntries = 1 << 18;

  std::variant<DecodedPatch, std::string> decode(std::size_t section, std::uint64_t patch) {
    DecodedPatch out;
    out.location = elf_.where(section, patch);
    const std::size_t read = std::max(
        {l_.patch_mod + l_.pointer_size, l_.patch_objs + l_.pointer_size, l_.patch_replace + 1});
    const auto bytes = elf_.bytes(section, patch, read);
    if (!bytes) return out.location + ": struct klp_patch runs past the end of its section";
    out.replace = (*bytes)[l_.patch_replace] != std::byte{0};
    const auto objs = pointer(section, patch + l_.patch_objs);
    if (!objs.valid || !objs.target) return out.location + ": klp_patch.objs is not a pointer";
    for (std::uint64_t i = 0;; ++i) {
      const std::uint64_t at = objs.target->offset + i * l_.object_size;
      const std::size_t in = objs.target->section;
      if (++entries_ > kMaxEntries) return "more klp entries than lpmon decodes";
      if (!elf_.bytes(in, at, l_.object_size)) {
        return "the klp_object array at " + elf_.where(in, objs.target->offset) +
               " has no terminating entry";
      }
      const auto name = pointer(in, at + l_.object_name);
      const auto funcs = pointer(in, at + l_.object_funcs);
      if (!name.valid || !funcs.valid) return elf_.where(in, at) + ": not a klp_object";
      if (!name.target && !funcs.target) break;
      if (!funcs.target) return elf_.where(in, at) + ": klp_object without funcs";
      PatchedObject object;
      if (name.target) {
        const auto text = string_at(elf_, *name.target);
        if (!text) return elf_.where(in, at) + ": klp_object.name is not a module name";
        object.name = *text;
      } else {
        object.name = "vmlinux";  // klp's convention: no name is the kernel itself
      }
      if (auto error = read_functions(*funcs.target, object)) return *error;
      out.objects.push_back(std::move(object));
    }
    if (out.objects.empty()) return out.location + ": klp_patch without objects";
    return out;
  }

 private:
  // A pointer member: a relocation gives its target, otherwise it must be NULL (a non-zero
  // pointer without relocation means nothing in a module not yet loaded).
  struct Pointer {
    bool valid = false;
    std::optional<RelocTarget> target;
  };

  Pointer pointer(std::size_t section, std::uint64_t offset) {
    const auto place = elf_.bytes(section, offset, l_.pointer_size);
    if (!place) return {};
    if (const Reloc* r = elf_.reloc_at(section, offset)) return {true, r->target};
    const bool null =
        std::all_of(place->begin(), place->end(), [](std::byte b) { return b == std::byte{0}; });
    return {null, std::nullopt};
  }

  std::optional<std::string> read_functions(const RelocTarget& funcs, PatchedObject& object) {
    for (std::uint64_t j = 0;; ++j) {
      const std::uint64_t at = funcs.offset + j * l_.func_size;
      const std::size_t in = funcs.section;
      if (++entries_ > kMaxEntries) return "more klp entries than lpmon decodes";
      if (!elf_.bytes(in, at, l_.func_size)) {
        return "the klp_func array at " + elf_.where(in, funcs.offset) +
               " has no terminating entry";
      }
      const auto old_name = pointer(in, at + l_.func_old_name);
      const auto new_func = pointer(in, at + l_.func_new_func);
      const auto sympos = elf_.bytes(in, at + l_.func_old_sympos, l_.func_old_sympos_size);
      if (!old_name.valid || !new_func.valid || !sympos) {
        return elf_.where(in, at) + ": not a klp_func";
      }
      const std::uint64_t position = read_uint(*sympos, elf_.big_endian());
      if (!old_name.target && !new_func.target && position == 0) return std::nullopt;
      if (!old_name.target || !new_func.target) {
        return elf_.where(in, at) + ": klp_func without old_name or new_func";
      }
      const auto name = string_at(elf_, *old_name.target);
      if (!name) return elf_.where(in, at) + ": klp_func.old_name is not a symbol name";
      object.functions.push_back({*name, static_cast<unsigned long>(position)});
    }
  }

  ModuleElf& elf_;
  const KlpLayout& l_;
  std::size_t entries_ = 0;
};

// Finds the module's static klp_patch. Not by the argument of klp_enable_patch(): that is
// loaded by code whose instructions and relocations differ by architecture, code model and
// compiler (mov $imm32 on x86-64, adrp+add on arm64, maybe a tail call), so matching it
// means disassembling. Instead, by data: klp_enable_patch() refuses a patch whose .mod is
// not the livepatch module itself, so every static klp_patch holds THIS_MODULE, a plain
// pointer relocation to __this_module, at klp_patch.mod. Other structures hold it too
// (file_operations.owner), so each candidate counts only if objs -> klp_object[] ->
// klp_func[] -> old_name strings decode with the kernel's layout, as klp would walk them.
std::variant<DecodedPatch, std::string> find_patch(ModuleElf& elf, const KlpLayout& layout,
                                                   std::vector<std::string>& notes) {
  if (auto bad = check_layout(layout)) return *bad;
  if (layout.pointer_size != (elf.is64() ? 8u : 4u)) {
    return "the BTF is of a " + std::to_string(layout.pointer_size * 8) +
           "-bit kernel, the module is " + (elf.is64() ? "64" : "32") + "-bit";
  }
  if (!elf.has_symbol_table()) return "the module has no symbol table, so no relocations to follow";
  PatchDecoder decoder(elf, layout);
  std::vector<DecodedPatch> found;
  std::string first_error;
  for (const auto& [section, offset] : elf.this_module_pointers()) {
    if (offset < layout.patch_mod) continue;
    auto decoded = decoder.decode(section, offset - layout.patch_mod);
    if (auto* patch = std::get_if<DecodedPatch>(&decoded)) {
      found.push_back(std::move(*patch));
    } else if (first_error.empty()) {
      first_error = std::get<std::string>(decoded);
    }
  }
  if (found.empty()) {
    if (elf.find(".kpatch.funcs")) {
      return "a kpatch module: it builds its klp_patch at load time from .kpatch.funcs, which "
             "lpmon does not decode";
    }
    if (!first_error.empty()) return "no well-formed klp_patch: " + first_error;
    return "no static klp_patch (no data holds THIS_MODULE): the module may build its patch at "
           "load time";
  }
  if (found.size() > 1) {
    std::string where;
    for (const auto& p : found) where += (where.empty() ? "" : ", ") + p.location;
    notes.push_back(std::to_string(found.size()) + " klp_patch structures (" + where +
                    "); showing the first");
  }
  return std::move(found.front());
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

// "object:function[,sympos]" separated by spaces, as lpmon build writes lpmon_functions.
std::optional<std::vector<PatchedObject>> parse_lpmon_functions(std::string_view text) {
  std::vector<PatchedObject> objects;
  for (const std::string& entry : split(text, ' ')) {
    const auto colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) return std::nullopt;
    std::string function = entry.substr(colon + 1);
    unsigned long sympos = 0;
    if (const auto comma = function.find(','); comma != std::string::npos) {
      const auto parsed =
          detail::parse_integer<unsigned long>(std::string_view(function).substr(comma + 1));
      if (!parsed || comma == 0) return std::nullopt;
      sympos = *parsed;
      function.resize(comma);
    }
    const std::string object = entry.substr(0, colon);
    if (objects.empty() || objects.back().name != object) objects.push_back({object, {}});
    objects.back().functions.push_back({function, sympos});
  }
  if (objects.empty()) return std::nullopt;
  return objects;
}

// A bounded reader of DER (the encoding of a PKCS#7 module signature).
class Der {
 public:
  Der() = default;
  explicit Der(Bytes data) : data_(data) {}

  bool next(std::uint8_t& tag, Der& value) {
    if (data_.size() - pos_ < 2) return false;
    tag = std::to_integer<std::uint8_t>(data_[pos_]);
    if ((tag & 0x1f) == 0x1f) return false;  // multi-byte tags: not in a signature
    std::size_t length = std::to_integer<std::size_t>(data_[pos_ + 1]);
    std::size_t at = pos_ + 2;
    if (length & 0x80) {
      const std::size_t n = length & 0x7f;
      if (n == 0 || n > 4 || data_.size() - at < n) return false;  // 0: indefinite, not DER
      length = 0;
      for (std::size_t i = 0; i < n; ++i)
        length = (length << 8) | std::to_integer<std::size_t>(data_[at++]);
    }
    if (length > data_.size() - at) return false;
    value = Der(data_.subspan(at, length));
    pos_ = at + length;
    return true;
  }

  bool expect(std::uint8_t want, Der& value) {
    std::uint8_t tag = 0;
    return next(tag, value) && tag == want;
  }

  Bytes bytes() const { return data_; }

 private:
  Bytes data_;
  std::size_t pos_ = 0;
};

bool equals(Bytes bytes, std::string_view want) {
  return bytes.size() == want.size() && std::memcmp(bytes.data(), want.data(), want.size()) == 0;
}

std::string oid_text(Bytes oid) {
  std::string text;
  std::uint64_t arc = 0;
  std::size_t digits = 0;
  for (const std::byte b : oid) {
    const auto v = std::to_integer<unsigned>(b);
    if (++digits > 9) return "?";
    arc = (arc << 7) | (v & 0x7f);
    if (v & 0x80) continue;
    if (text.empty()) {
      const std::uint64_t first = arc < 80 ? arc / 40 : 2;
      text = std::to_string(first) + "." + std::to_string(arc - first * 40);
    } else {
      text += "." + std::to_string(arc);
    }
    arc = 0;
    digits = 0;
  }
  return text;
}

std::string digest_name(Bytes oid) {
  using namespace std::string_view_literals;
  static constexpr std::pair<std::string_view, std::string_view> known[] = {
      {"sha1", "\x2b\x0e\x03\x02\x1a"sv},
      {"sha256", "\x60\x86\x48\x01\x65\x03\x04\x02\x01"sv},
      {"sha384", "\x60\x86\x48\x01\x65\x03\x04\x02\x02"sv},
      {"sha512", "\x60\x86\x48\x01\x65\x03\x04\x02\x03"sv},
      {"sha224", "\x60\x86\x48\x01\x65\x03\x04\x02\x04"sv},
      {"sha3-256", "\x60\x86\x48\x01\x65\x03\x04\x02\x08"sv},
      {"sha3-384", "\x60\x86\x48\x01\x65\x03\x04\x02\x09"sv},
      {"sha3-512", "\x60\x86\x48\x01\x65\x03\x04\x02\x0a"sv},
      {"sm3", "\x2a\x81\x1c\xcf\x55\x01\x83\x11"sv},
  };
  for (const auto& [name, der] : known) {
    if (equals(oid, der)) return std::string(name);
  }
  return "OID " + oid_text(oid);
}

// "1A:84:33", like modinfo's sig_key; DER's sign-padding zero byte left out.
std::string colon_hex(Bytes bytes) {
  if (bytes.size() > 1 && bytes[0] == std::byte{0} &&
      (std::to_integer<unsigned>(bytes[1]) & 0x80)) {
    bytes = bytes.subspan(1);
  }
  std::string out;
  char two[4];
  for (const std::byte b : bytes) {
    std::snprintf(two, sizeof two, "%02X", std::to_integer<unsigned>(b));
    out += (out.empty() ? "" : ":") + std::string(two);
  }
  return out;
}

// The common name in an X.509 Name, as modinfo shows the signer.
std::string common_name(Der name) {
  std::uint8_t tag = 0;
  Der rdn;
  while (name.next(tag, rdn)) {
    Der attribute;
    while (rdn.expect(0x30, attribute)) {
      Der oid;
      Der value;
      if (!attribute.expect(0x06, oid) || !attribute.next(tag, value)) break;
      if (equals(oid.bytes(), "\x55\x04\x03")) {
        const Bytes b = value.bytes();
        return printable(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
      }
    }
  }
  return "";
}

// Signer, key and digest of the first SignerInfo of a PKCS#7 SignedData, as sign-file makes
// it (RFC 2315/5652). Leaves the fields empty where the blob is not what is expected.
void read_pkcs7(Bytes blob, ModuleSignature& signature) {
  Der top(blob);
  Der content_info, oid, explicit_content, signed_data, skip, signer_infos;
  if (!top.expect(0x30, content_info) || !content_info.expect(0x06, oid) ||
      !equals(oid.bytes(), "\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02") ||
      !content_info.expect(0xa0, explicit_content) || !explicit_content.expect(0x30, signed_data) ||
      !signed_data.expect(0x02, skip) || !signed_data.expect(0x31, skip) ||
      !signed_data.expect(0x30, skip)) {
    return;
  }
  std::uint8_t tag = 0;
  while (signed_data.next(tag, signer_infos) && (tag == 0xa0 || tag == 0xa1)) {
  }
  if (tag != 0x31) return;
  Der signer_info, sid, algorithm, algorithm_oid;
  if (!signer_infos.expect(0x30, signer_info) || !signer_info.expect(0x02, skip) ||
      !signer_info.next(tag, sid)) {
    return;
  }
  if (tag == 0x30) {  // issuerAndSerialNumber
    Der issuer, serial;
    if (sid.expect(0x30, issuer) && sid.expect(0x02, serial)) {
      signature.signer = common_name(issuer);
      signature.key_id = colon_hex(serial.bytes());
    }
  } else if (tag == 0x80) {  // subjectKeyIdentifier
    signature.key_id = colon_hex(sid.bytes());
  }
  if (signer_info.expect(0x30, algorithm) && algorithm.expect(0x06, algorithm_oid)) {
    signature.hash_algorithm = digest_name(algorithm_oid.bytes());
  }
}

// The trailer sign-file appends: signature, struct module_signature, then the magic string.
ModuleSignature read_signature(Bytes image, std::vector<std::string>& notes) {
  ModuleSignature signature;
  const std::size_t tail = kSignatureMagic.size() + kSignatureInfoSize;
  if (image.size() < tail || std::memcmp(image.data() + image.size() - kSignatureMagic.size(),
                                         kSignatureMagic.data(), kSignatureMagic.size()) != 0) {
    return signature;
  }
  signature.is_signed = true;
  const Bytes info = image.subspan(image.size() - tail, kSignatureInfoSize);
  const auto id_type = std::to_integer<unsigned>(info[2]);
  const std::size_t signer_length = std::to_integer<std::size_t>(info[3]);
  const std::size_t key_id_length = std::to_integer<std::size_t>(info[4]);
  signature.signature_size = read_uint(info.subspan(8, 4), true);  // __be32 sig_len
  static constexpr std::array<std::string_view, 3> kinds{"PGP", "X.509", "PKCS#7"};
  signature.id_type =
      id_type < kinds.size() ? std::string(kinds[id_type]) : "type " + std::to_string(id_type);
  const std::size_t before = image.size() - tail;
  if (signature.signature_size > before ||
      signer_length + key_id_length > before - signature.signature_size) {
    notes.push_back(
        "the signature trailer claims more bytes than the file has: malformed signature");
    return signature;
  }
  if (id_type == 2)
    read_pkcs7(image.subspan(before - signature.signature_size, signature.signature_size),
               signature);
  return signature;
}

}  // namespace

KlpLayout KlpLayout::from_btf(const fs::path& file) {
  std::unique_ptr<btf, decltype(&btf__free)> b(btf__parse(file.c_str(), nullptr), btf__free);
  if (!b) {
    throw KernelError("cannot read BTF from " + file.string() + ": " +
                      detail::errno_message(errno));
  }
  struct Member {
    std::size_t offset;
    std::size_t size;
  };
  auto find = [&](const char* type_name, std::size_t& size) -> const btf_type* {
    const int id = btf__find_by_name_kind(b.get(), type_name, BTF_KIND_STRUCT);
    if (id < 0) {
      throw KernelError(file.string() + " has no struct " + type_name +
                        ": its kernel was built without CONFIG_LIVEPATCH; pass the BTF of the "
                        "kernel the patch is for");
    }
    const btf_type* t = btf__type_by_id(b.get(), id);
    size = t->size;
    return t;
  };
  auto member = [&](const btf_type* t, const char* type_name, const char* name) -> Member {
    const btf_member* m = btf_members(t);
    for (unsigned short i = 0; i < btf_vlen(t); ++i, ++m) {
      if (std::strcmp(btf__name_by_offset(b.get(), m->name_off), name) != 0) continue;
      const unsigned bits = btf_member_bit_offset(t, i);
      const long long size = btf__resolve_size(b.get(), m->type);
      if (bits % 8 != 0 || btf_member_bitfield_size(t, i) != 0 || size <= 0) break;
      return {bits / 8, static_cast<std::size_t>(size)};
    }
    throw KernelError(file.string() + ": struct " + type_name + " has no member " + name +
                      " that lpmon can read");
  };
  KlpLayout l;
  const btf_type* func = find("klp_func", l.func_size);
  const Member old_name = member(func, "klp_func", "old_name");
  l.pointer_size = old_name.size;
  l.func_old_name = old_name.offset;
  l.func_new_func = member(func, "klp_func", "new_func").offset;
  const Member sympos = member(func, "klp_func", "old_sympos");
  l.func_old_sympos = sympos.offset;
  l.func_old_sympos_size = sympos.size;
  const btf_type* object = find("klp_object", l.object_size);
  l.object_name = member(object, "klp_object", "name").offset;
  l.object_funcs = member(object, "klp_object", "funcs").offset;
  std::size_t patch_size = 0;
  const btf_type* patch = find("klp_patch", patch_size);
  l.patch_mod = member(patch, "klp_patch", "mod").offset;
  l.patch_objs = member(patch, "klp_patch", "objs").offset;
  l.patch_replace = member(patch, "klp_patch", "replace").offset;
  if (auto bad = check_layout(l)) throw KernelError(file.string() + ": " + *bad);
  return l;
}

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

std::optional<fs::path> find_kernel_btf(std::string_view release, const KernelPaths& paths) {
  // The release comes from the module file: keep it from walking out of the directories.
  if (release.empty() || release.find('/') != std::string_view::npos || release.starts_with(".")) {
    return std::nullopt;
  }
  std::string running;
  try {
    running = kernel_release(paths);
  } catch (const KernelError&) {
  }
  const std::string r(release);
  std::error_code ec;
  if (running == r && fs::exists(paths.sysfs / "kernel/btf/vmlinux", ec)) {
    return paths.sysfs / "kernel/btf/vmlinux";
  }
  for (const fs::path& candidate : {fs::path("/lib/modules") / r / "build/vmlinux",
                                    fs::path("/usr/lib/debug/boot") / ("vmlinux-" + r),
                                    fs::path("/usr/lib/debug/lib/modules") / r / "vmlinux"}) {
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  return std::nullopt;
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
