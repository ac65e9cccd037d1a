// The ELF side of a module file: bounds-checked section bytes and the data relocations that
// klp's pointers are made of. Private to liblpmon's module reader.
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lpmon/module_inspector.hpp"

namespace lpmon::modfile {

using Bytes = std::span<const std::byte>;

inline constexpr std::string_view kThisModuleSection = ".gnu.linkonce.this_module";
inline constexpr std::size_t kMaxSymbolName = 512;  // KSYM_NAME_LEN since 6.1

[[noreturn]] inline void fail(ModuleFileProblem problem, const std::string& file,
                              const std::string& what) {
  throw ModuleFileError(problem, file + ": " + what);
}

// offset + length <= size, without overflow.
inline bool in_bounds(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  return offset <= size && length <= size - offset;
}

inline std::uint64_t read_uint(Bytes bytes, bool big_endian) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i) {
    const std::byte b = bytes[big_endian ? i : bytes.size() - 1 - i];
    value = (value << 8) | std::to_integer<std::uint64_t>(b);
  }
  return value;
}

inline std::string hex(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// Module strings end up on terminals: control characters become '?'.
inline std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

inline std::vector<std::string> split(std::string_view text, char separator) {
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
void check_elf_header(Bytes image, const std::string& file);

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
std::uint32_t pointer_reloc_type(unsigned machine, bool is64);

// One module file parsed by libelf, with its data relocations indexed. Every read goes
// through bytes(), which checks bounds.
class ModuleElf {
 public:
  ModuleElf(char* image, std::size_t size, const std::string& file);

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
  void index_relocations();

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

}  // namespace lpmon::modfile
