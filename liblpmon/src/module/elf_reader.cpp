#include "module/elf_reader.hpp"

#include <array>
#include <cstring>
#include <mutex>

namespace lpmon::modfile {

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

ModuleElf::ModuleElf(char* image, std::size_t size, const std::string& file) : file_(file) {
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
    if (s.header.sh_type != SHT_NOBITS && !in_bounds(s.header.sh_offset, s.header.sh_size, size)) {
      fail(ModuleFileProblem::corrupt, file_,
           "truncated ELF: section " + std::string(s.name) + " ends at byte " +
               std::to_string(s.header.sh_offset + s.header.sh_size) + " but the file has " +
               std::to_string(size));
    }
  }
}

// Relocations of allocated, non-executable sections only: that is where klp's arrays are,
// and it skips the many relocations of debug sections.
void ModuleElf::index_relocations() {
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
    const std::size_t entry = gelf_fsize(elf_.get(), rela ? ELF_T_RELA : ELF_T_REL, 1, EV_CURRENT);
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

}  // namespace lpmon::modfile
