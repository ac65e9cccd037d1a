#pragma once

#include <charconv>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace lpmon::detail {

// Content of a small sysfs/procfs file, or why it could not be read.
struct FileText {
  std::string text{};  // trailing newline removed
  int error = 0;       // errno of the failed open or read; 0 on success
};

// Uses open/read rather than iostreams, which lose errno: callers tell "gone" (ENOENT) from
// other failures.
FileText read_kernel_file(const std::filesystem::path& file);

inline std::string errno_message(int error) {
  return std::make_error_code(static_cast<std::errc>(error)).message();
}

// The whole of text as a decimal integer; nullopt on anything else, including trailing junk.
template <typename Integer>
std::optional<Integer> parse_integer(std::string_view text) {
  Integer value{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc{} || stop != end) return std::nullopt;
  return value;
}

}  // namespace lpmon::detail
