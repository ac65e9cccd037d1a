#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lpmon::build {

// The parts of an ELF file (relocatable object, module or vmlinux) that the diff build
// reads: symbols, section bytes and relocations. Read-only; throws std::runtime_error
// naming the file when it is not a 64-bit ELF file.
class ElfObject {
 public:
  struct Symbol {
    std::string name;
    unsigned char bind = 0;  // STB_*
    unsigned char type = 0;  // STT_*
    std::uint16_t section = 0;
    std::uint64_t value = 0;
    std::uint64_t size = 0;
  };
  struct Relocation {
    std::uint64_t offset = 0;
    std::uint32_t type = 0;
    std::string symbol;  // the symbol's name, or its section's name for section symbols
    std::int64_t addend = 0;
  };

  explicit ElfObject(const std::filesystem::path& file);
  ~ElfObject();
  ElfObject(ElfObject&&) noexcept;
  ElfObject& operator=(ElfObject&&) noexcept;

  const std::filesystem::path& file() const;
  const std::vector<Symbol>& symbols() const;
  std::optional<std::size_t> section_index(const std::string& name) const;
  std::string section_name(std::size_t index) const;
  std::uint64_t section_address(std::size_t index) const;
  // Empty for SHT_NOBITS sections.
  std::span<const std::uint8_t> section_bytes(std::size_t index) const;
  // The relocations that apply to section `index` (from its SHT_RELA section).
  std::vector<Relocation> relocations(std::size_t index) const;
  // Bytes at a virtual address of a linked file (vmlinux), or empty when no section holds them.
  std::span<const std::uint8_t> bytes_at(std::uint64_t address, std::uint64_t size) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lpmon::build
