#include "module/klp_decoder.hpp"

#include <algorithm>

#include "kernel_file.hpp"

namespace lpmon::modfile {
namespace {

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

}  // namespace

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

}  // namespace lpmon::modfile
