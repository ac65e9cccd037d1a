#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lpmon/build/elf_object.hpp"

namespace lpmon::build {

// The object built here as the release was built must be the one the release ships,
// function by function (`shipped`: the -dbg vmlinux or the release's .ko; relocated fields
// masked). Throws Refused naming the first function that differs, or when none of the
// object's functions is in `owner` (the file is not built in the release's config).
void check_reproduces(const ElfObject& plain, const std::string& source, const std::string& owner,
                      const std::string& release, const ElfObject& shipped,
                      std::vector<std::string>& notes);

// Throws Refused naming a struct whose layout differs between the objects before and after.
void check_struct_layouts(const std::string& source, const std::filesystem::path& before,
                          const std::filesystem::path& after);

// create-diff-object's failure log in the user's terms.
std::string refusal_from_log(const std::string& source, const std::string& log);

}  // namespace lpmon::build
