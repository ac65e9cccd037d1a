#include "object_checks.hpp"

#include <elf.h>

#include <cstring>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "lpmon/build/diff_build.hpp"
#include "lpmon/util/process.hpp"

namespace lpmon::build {

namespace fs = std::filesystem;

namespace {

bool relocation_width(std::uint32_t type, unsigned& width) {
  switch (type) {
    case R_X86_64_64:
      width = 8;
      return true;
    case R_X86_64_PC32:
    case R_X86_64_PLT32:
    case R_X86_64_32:
    case R_X86_64_32S:
    case R_X86_64_GOTPCREL:
    case R_X86_64_GOTPCRELX:
    case R_X86_64_REX_GOTPCRELX:
      width = 4;
      return true;
    default:
      return false;
  }
}

// Bytes of a function with its relocated fields zeroed, so that objects compare with
// linked binaries.
std::vector<std::uint8_t> masked(const ElfObject& elf, const ElfObject::Symbol& f) {
  const auto bytes = elf.section_bytes(f.section);
  if (f.value + f.size > bytes.size()) return {};
  std::vector<std::uint8_t> out(bytes.begin() + f.value, bytes.begin() + f.value + f.size);
  for (const auto& r : elf.relocations(f.section)) {
    unsigned width = 0;
    if (r.offset < f.value || r.offset >= f.value + f.size || !relocation_width(r.type, width))
      continue;
    for (unsigned i = 0; i < width && r.offset - f.value + i < out.size(); ++i)
      out[r.offset - f.value + i] = 0;
  }
  return out;
}

// Struct layouts of an object's DWARF (pahole), by struct name.
std::map<std::string, std::string> struct_layouts(const fs::path& object) {
  const ProcessResult r = run_process({"pahole", "-F", "dwarf", object.string()});
  if (r.status != 0) {
    throw std::runtime_error("pahole failed on " + object.string() + ":\n" +
                             last_lines(r.output, 5));
  }
  std::map<std::string, std::string> layouts;
  std::istringstream in(r.output);
  std::string name, body;
  for (std::string line; std::getline(in, line);) {
    if (name.empty() && line.starts_with("struct ") && line.ends_with("{")) {
      name = line.substr(7, line.size() - 9);
      body.clear();
    } else if (!name.empty() && line.starts_with("}")) {
      layouts[name] = body + line;
      name.clear();
    } else if (!name.empty()) {
      body += line + "\n";
    }
  }
  return layouts;
}

}  // namespace

// The object built here must be the one the release ships, function by function. `shipped`
// is the -dbg vmlinux or the release's .ko; relocated fields are masked on both sides.
void check_reproduces(const ElfObject& plain, const std::string& source, const std::string& owner,
                      const std::string& release, const ElfObject& shipped,
                      std::vector<std::string>& notes) {
  std::map<std::string, std::vector<const ElfObject::Symbol*>> by_name;
  for (const auto& s : shipped.symbols()) {
    if (s.type == STT_FUNC && s.section != SHN_UNDEF) by_name[s.name].push_back(&s);
  }
  const bool linked = owner == "vmlinux";
  std::size_t compared = 0, found = 0;
  for (const auto& f : plain.symbols()) {
    if (f.type != STT_FUNC || f.section == SHN_UNDEF || f.size == 0) continue;
    const auto it = by_name.find(f.name);
    if (it != by_name.end()) ++found;
    if (it == by_name.end() || it->second.size() != 1) continue;  // ambiguous: not comparable
    const ElfObject::Symbol& s = *it->second[0];
    const auto ours = masked(plain, f);
    std::vector<std::uint8_t> theirs;
    if (linked) {
      const auto b = shipped.bytes_at(s.value, s.size);
      theirs.assign(b.begin(), b.end());
      for (std::size_t i = 0; i < ours.size() && i < theirs.size(); ++i) {
        if (ours[i] == 0) theirs[i] = 0;
      }
    } else {
      theirs = masked(shipped, s);
    }
    ++compared;
    if (s.size != f.size || ours != theirs) {
      throw Refused(source + " built here does not reproduce function " + f.name + " of " + owner +
                    " in " + release +
                    ": the source, configuration or compiler differ from the release's build, "
                    "so a patch built from it cannot be trusted");
    }
  }
  if (found == 0) {
    throw Refused(
        source + " is not built into " + owner + " of " + release +
        " (none of its functions is there): the file is not built in the release's config");
  }
  notes.push_back(source + ": " + std::to_string(compared) + " functions identical to " + owner +
                  " of " + release + " (relocated bytes masked)");
}

// create-diff-object does not compare struct layouts: old and new code would disagree about
// memory they share. The diff can only change structs its .c files define (headers are
// refused), and those are in the objects' DWARF.
void check_struct_layouts(const std::string& source, const fs::path& before,
                          const fs::path& after) {
  const auto old_layouts = struct_layouts(before);
  for (const auto& [name, layout] : struct_layouts(after)) {
    const auto it = old_layouts.find(name);
    if (it != old_layouts.end() && it->second != layout) {
      throw Refused(source + ": the diff changes the layout of struct " + name +
                    ", which old and new code would share during and after the transition; keep "
                    "the struct as it is and write a fix unit that keeps the new state in a klp "
                    "shadow variable (kmod/fixes/README.md)");
    }
  }
}

// create-diff-object's log in the user's terms.
std::string refusal_from_log(const std::string& source, const std::string& log) {
  std::smatch m;
  if (std::regex_search(log, m, std::regex(R"(function (\S+) has no fentry/mcount call)"))) {
    return source + ": function " + m[1].str() +
           " has no ftrace entry (notrace, or the file is built without -pg): livepatch "
           "cannot redirect it";
  }
  if (std::regex_search(log, m, std::regex(R"(data section (\S+) selected for inclusion)"))) {
    return source + ": the diff changes data (" + m[1].str() +
           "): a livepatch replaces code, not initialized data or bss; keep the old data and "
           "write a fix unit with a shadow variable";
  }
  if (std::regex_search(log, m, std::regex(R"(changed section (\S+) not selected)"))) {
    std::string section = m[1].str();
    if (section.starts_with(".rela")) section = section.substr(5);
    if (section.starts_with(".init") || section.starts_with(".exit")) {
      return source + ": the diff changes __init/__exit code or data (" + section +
             "), which ran at boot (or load) and is gone: a livepatch cannot change it";
    }
    for (const char* data : {".data", ".rodata", ".bss"}) {
      if (section.starts_with(data)) {
        const std::string symbol =
            section.size() > std::strlen(data) ? section.substr(std::strlen(data) + 1) : section;
        return source + ": the diff changes data (" + symbol + " in " + data +
               "): a livepatch replaces functions, not data that is already in use; keep the "
               "old data and write a fix unit with a klp shadow variable (kmod/fixes/README.md)";
      }
    }
    return source + ": the diff changes " + section +
           ", which is not code a livepatch can replace (a special section)";
  }

  if (std::regex_search(
          log, m,
          std::regex(
              R"(Found a (jump label|static call) at (\S+?),? using key (\S+), which is defined in a module)"))) {
    return source + ": " + m[2].str() + " uses a " + m[1].str() + " keyed in a module (" +
           m[3].str() + "): not supported in a livepatch; use static_key_enabled()";
  }
  if (log.find(".init.") != std::string::npos || log.find("__init") != std::string::npos) {
    return source + ": the diff changes __init code, which has already run and been freed";
  }
  return source + ": kpatch's create-diff-object cannot reconcile the change:\n" +
         last_lines(log, 8);
}

}  // namespace lpmon::build
