#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lpmon::build {

// Lines a unified diff changes in one file: old-side numbers of removed lines, new-side
// numbers of added lines (1-based).
struct ChangedLines {
  std::vector<std::size_t> removed;
  std::vector<std::size_t> added;
};
ChangedLines changed_lines(const std::filesystem::path& patch, const std::string& file);

// The static inline functions of a header whose bodies the diff changes. Throws Refused,
// naming the header and the line, when a change is anywhere else (a struct, a macro, a
// declaration): code compiled from such a header cannot be found function by function.
std::vector<std::string> changed_inline_functions(const std::string& header,
                                                  const std::string& old_text,
                                                  const std::string& new_text,
                                                  const ChangedLines& lines);

// The .c files of the tree (x86 and generic code) that name any of `functions`: the
// translation units the changed inlines can have been compiled into. Throws Refused, naming
// the header, its functions and their users, when other headers use them too (inline code
// calling inline code: the users cannot be found from the sources alone) or when there are
// more than kMaxHeaderUsers files to rebuild.
inline constexpr std::size_t kMaxHeaderUsers = 12;
std::vector<std::string> header_users(const std::filesystem::path& tree, const std::string& header,
                                      const std::vector<std::string>& functions);

}  // namespace lpmon::build
