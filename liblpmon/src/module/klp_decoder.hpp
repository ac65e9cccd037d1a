// Decodes what a livepatch module replaces from its klp_patch, klp_object and klp_func
// arrays, with the struct layout of the kernel's BTF. Private to liblpmon's module reader.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lpmon/module_inspector.hpp"
#include "module/elf_reader.hpp"

namespace lpmon::modfile {

// Why the layout cannot be used to read the arrays; nullopt when it can.
std::optional<std::string> check_layout(const KlpLayout& layout);

struct DecodedPatch {
  std::vector<PatchedObject> objects;
  bool replace = false;
  std::string location;
};

// The module's static klp_patch, or why none decodes. Several are a note.
std::variant<DecodedPatch, std::string> find_patch(ModuleElf& elf, const KlpLayout& layout,
                                                   std::vector<std::string>& notes);

// lpmon_functions of .modinfo ("object:function[,sympos]" separated by spaces); nullopt when
// malformed.
std::optional<std::vector<PatchedObject>> parse_lpmon_functions(std::string_view text);

}  // namespace lpmon::modfile
