#include "lpmon/build/lookup_table.hpp"

#include <elf.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

namespace lpmon::build {

namespace {

// Locals that the kernel's link drops or keeps unpredictably; kpatch skips them as well.
bool maybe_discarded(const std::string& name) {
  return name.starts_with("__exitcall_") || name.starts_with("__brk_reservation_fn_") ||
         name.starts_with("__func_stack_frame_non_standard_") ||
         name.find("__addressable_") != std::string::npos ||
         name.find("__UNIQUE_ID_") != std::string::npos || name.starts_with(".L.str") ||
         name.starts_with("__ubsan_");
}

std::string line(std::size_t n, std::uint64_t address, const char* type, const char* bind,
                 const char* ndx, const std::string& name) {
  char head[96];
  std::snprintf(head, sizeof head, "%6zu: %016llx     0 %-7s %-6s DEFAULT %4s ", n,
                static_cast<unsigned long long>(address), type, bind, ndx);
  return head + name + "\n";
}

}  // namespace

std::vector<KernelSymbol> read_module_symbols(const ElfObject& ko) {
  std::vector<KernelSymbol> out;
  std::uint64_t index = 0;
  for (const auto& s : ko.symbols()) {
    ++index;
    if (s.section == SHN_UNDEF || s.name.empty()) continue;
    if (s.type != STT_FUNC && s.type != STT_OBJECT && s.type != STT_NOTYPE) continue;
    out.push_back({s.name, s.bind != STB_LOCAL, s.type == STT_FUNC, index});
  }
  return out;
}

std::string lookup_table(const std::vector<KernelSymbol>& kernel, const ElfObject& object,
                         LookupNotes& notes) {
  std::map<std::string, std::vector<std::size_t>> by_name;
  for (std::size_t i = 0; i < kernel.size(); ++i) by_name[kernel[i].name].push_back(i);

  // Where the object sits in the kernel object: its globals, and locals with one candidate.
  std::vector<std::uint64_t> anchors;
  std::string file_name;
  struct Local {
    const ElfObject::Symbol* symbol;
    long index = -1;  // in kernel, -1 when missing
  };
  std::vector<Local> locals;
  for (const auto& s : object.symbols()) {
    if (s.type == STT_FILE && file_name.empty()) file_name = s.name;
    if (s.section == SHN_UNDEF || (s.type != STT_FUNC && s.type != STT_OBJECT)) continue;
    const auto it = by_name.find(s.name);
    if (s.bind != STB_LOCAL) {
      if (it != by_name.end() && it->second.size() == 1)
        anchors.push_back(kernel[it->second[0]].where);
      continue;
    }
    if (maybe_discarded(s.name)) continue;
    Local local{&s};
    if (it != by_name.end()) {
      std::vector<std::size_t> same_kind;
      for (auto i : it->second) {
        if (!kernel[i].global && kernel[i].function == (s.type == STT_FUNC)) same_kind.push_back(i);
      }
      if (same_kind.size() == 1) {
        local.index = static_cast<long>(same_kind[0]);
        anchors.push_back(kernel[same_kind[0]].where);
      } else if (same_kind.size() > 1) {
        local.index = -2;  // decided below
      }
    }
    locals.push_back(local);
  }
  if (file_name.empty())
    throw std::runtime_error(object.file().string() + " has no STT_FILE symbol");

  auto distance = [&](std::uint64_t where) {
    std::uint64_t best = std::numeric_limits<std::uint64_t>::max();
    for (auto a : anchors) best = std::min(best, where > a ? where - a : a - where);
    return best;
  };
  for (auto& local : locals) {
    const std::string& name = local.symbol->name;
    if (local.index == -1) {
      notes.missing.push_back(name);
      continue;
    }
    if (local.index != -2) continue;
    std::uint64_t best = std::numeric_limits<std::uint64_t>::max();
    for (auto i : by_name[name]) {
      if (kernel[i].global || kernel[i].function != (local.symbol->type == STT_FUNC)) continue;
      if (const auto d = distance(kernel[i].where); d < best) {
        best = d;
        local.index = static_cast<long>(i);
      }
    }
    notes.ambiguous.push_back(name);
  }

  std::ostringstream table;
  table << "Symbol table '.symtab' (synthesized by lpmon build) contains entries:\n";
  std::size_t n = 0;
  // Placeholders: a local's position is one more than the same-named symbols before it.
  for (const auto& local : locals) {
    if (local.index < 0) continue;
    const char* type = local.symbol->type == STT_FUNC ? "FUNC" : "OBJECT";
    for (auto i : by_name[local.symbol->name]) {
      if (i >= static_cast<std::size_t>(local.index)) break;
      table << line(n++, 0, type, "LOCAL", "1", local.symbol->name);
    }
  }
  table << line(n++, 0, "FILE", "LOCAL", "ABS", file_name);
  for (const auto& local : locals) {
    const std::uint64_t address = local.index >= 0 ? kernel[local.index].where : 0;
    table << line(n++, address, local.symbol->type == STT_FUNC ? "FUNC" : "OBJECT", "LOCAL", "1",
                  local.symbol->name);
  }
  table << line(n++, 0, "FILE", "LOCAL", "ABS", "lpmon-kernel-globals");
  for (const auto& k : kernel) {
    if (!k.global) continue;
    table << line(n++, k.where, k.function ? "FUNC" : "OBJECT", "GLOBAL", "1", k.name);
  }
  return table.str();
}

}  // namespace lpmon::build
