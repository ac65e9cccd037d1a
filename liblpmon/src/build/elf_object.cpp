#include "lpmon/build/elf_object.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <stdexcept>

namespace lpmon::build {

namespace fs = std::filesystem;

struct ElfObject::Impl {
  fs::path file;
  // Mapped, not read: a -dbg vmlinux is 600 MB and only its symbols and a few functions
  // are looked at.
  std::span<char> image;
  Elf* elf = nullptr;
  std::vector<Symbol> symbols;
  std::vector<GElf_Shdr> headers;
  std::size_t shstrndx = 0;

  ~Impl() {
    if (elf) elf_end(elf);
    if (!image.empty()) munmap(image.data(), image.size());
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error(file.string() + ": " + why);
  }
};

ElfObject::ElfObject(const fs::path& file) : impl_(std::make_unique<Impl>()) {
  static std::once_flag version_once;
  std::call_once(version_once, [] { elf_version(EV_CURRENT); });
  Impl& d = *impl_;
  d.file = file;
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) d.fail("cannot read it");
  struct stat st {};
  void* map = fstat(fd, &st) == 0 && st.st_size > 0
                  ? mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE, fd, 0)
                  : MAP_FAILED;
  close(fd);
  if (map == MAP_FAILED) d.fail("cannot map it");
  d.image = {static_cast<char*>(map), static_cast<std::size_t>(st.st_size)};
  d.elf = elf_memory(d.image.data(), d.image.size());
  if (!d.elf || elf_kind(d.elf) != ELF_K_ELF || gelf_getclass(d.elf) != ELFCLASS64) {
    d.fail("not a 64-bit ELF file");
  }
  if (elf_getshdrstrndx(d.elf, &d.shstrndx) != 0) d.fail("no section name table");
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(d.elf, scn));) {
    GElf_Shdr h;
    if (!gelf_getshdr(scn, &h)) d.fail("bad section header");
    d.headers.resize(elf_ndxscn(scn) + 1);
    d.headers[elf_ndxscn(scn)] = h;
    if (h.sh_type != SHT_SYMTAB) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    const std::size_t n = h.sh_entsize ? h.sh_size / h.sh_entsize : 0;
    for (std::size_t i = 0; data && i < n; ++i) {
      GElf_Sym s;
      if (!gelf_getsym(data, static_cast<int>(i), &s)) d.fail("bad symbol");
      const char* name = elf_strptr(d.elf, h.sh_link, s.st_name);
      d.symbols.push_back({name ? name : "", static_cast<unsigned char>(GELF_ST_BIND(s.st_info)),
                           static_cast<unsigned char>(GELF_ST_TYPE(s.st_info)), s.st_shndx,
                           s.st_value, s.st_size});
    }
  }
}

ElfObject::~ElfObject() = default;
ElfObject::ElfObject(ElfObject&&) noexcept = default;
ElfObject& ElfObject::operator=(ElfObject&&) noexcept = default;

const fs::path& ElfObject::file() const {
  return impl_->file;
}
const std::vector<ElfObject::Symbol>& ElfObject::symbols() const {
  return impl_->symbols;
}

std::optional<std::size_t> ElfObject::section_index(const std::string& name) const {
  for (std::size_t i = 1; i < impl_->headers.size(); ++i) {
    if (section_name(i) == name) return i;
  }
  return std::nullopt;
}

std::string ElfObject::section_name(std::size_t index) const {
  if (index >= impl_->headers.size()) return {};
  const char* name = elf_strptr(impl_->elf, impl_->shstrndx, impl_->headers[index].sh_name);
  return name ? name : "";
}

std::uint64_t ElfObject::section_address(std::size_t index) const {
  return index < impl_->headers.size() ? impl_->headers[index].sh_addr : 0;
}

std::span<const std::uint8_t> ElfObject::section_bytes(std::size_t index) const {
  if (index >= impl_->headers.size()) return {};
  const GElf_Shdr& h = impl_->headers[index];
  if (h.sh_type == SHT_NOBITS || h.sh_offset + h.sh_size > impl_->image.size()) return {};
  return {reinterpret_cast<const std::uint8_t*>(impl_->image.data()) + h.sh_offset, h.sh_size};
}

std::vector<ElfObject::Relocation> ElfObject::relocations(std::size_t index) const {
  std::vector<Relocation> out;
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(impl_->elf, scn));) {
    GElf_Shdr h;
    if (!gelf_getshdr(scn, &h) || h.sh_type != SHT_RELA || h.sh_info != index) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    const std::size_t n = h.sh_entsize ? h.sh_size / h.sh_entsize : 0;
    for (std::size_t i = 0; data && i < n; ++i) {
      GElf_Rela r;
      if (!gelf_getrela(data, static_cast<int>(i), &r)) impl_->fail("bad relocation");
      const std::size_t sym = GELF_R_SYM(r.r_info);
      std::string name;
      if (sym < impl_->symbols.size()) {
        const Symbol& s = impl_->symbols[sym];
        name = s.type == STT_SECTION ? section_name(s.section) : s.name;
      }
      out.push_back(
          {r.r_offset, static_cast<std::uint32_t>(GELF_R_TYPE(r.r_info)), name, r.r_addend});
    }
  }
  return out;
}

std::span<const std::uint8_t> ElfObject::bytes_at(std::uint64_t address, std::uint64_t size) const {
  for (std::size_t i = 1; i < impl_->headers.size(); ++i) {
    const GElf_Shdr& h = impl_->headers[i];
    if (!(h.sh_flags & SHF_ALLOC) || address < h.sh_addr || address + size > h.sh_addr + h.sh_size)
      continue;
    const auto bytes = section_bytes(i);
    if (bytes.empty()) return {};
    return bytes.subspan(address - h.sh_addr, size);
  }
  return {};
}

}  // namespace lpmon::build
