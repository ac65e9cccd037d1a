#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lpmon/build/elf_object.hpp"

namespace lpmon::build {

// One symbol of the module being patched, in the order the kernel's kallsyms walks them
// (the .ko's symtab order).
// klp finds a symbol by name and position among same-named ones in that order.
struct KernelSymbol {
  std::string name;
  bool global = false;
  bool function = false;
  std::uint64_t where = 0;  // symtab index: used for nearness
};

std::vector<KernelSymbol> read_module_symbols(const ElfObject& ko);

// What the lookup-table synthesis had to guess, for the build report.
struct LookupNotes {
  std::vector<std::string> missing;    // locals of the object the kernel object does not list
  std::vector<std::string> ambiguous;  // same-named locals, picked by nearness to the object's
};

// create-diff-object's "parent symtab" argument, in `readelf -s --wide` layout. kpatch
// groups local symbols by STT_FILE, which Debian's System.map and .ko files do not carry:
// this table holds one file block with the object's locals (located in the kernel object),
// preceded by same-named placeholders so that each local's position among same-named
// symbols is the one klp will count at load time, followed by the kernel's globals.
std::string lookup_table(const std::vector<KernelSymbol>& kernel, const ElfObject& object,
                         LookupNotes& notes);

}  // namespace lpmon::build
