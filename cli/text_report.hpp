#pragma once

#include <algorithm>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

// The aligned "Label:   value" layout of lpmon's human-readable reports (status, inspect),
// like `systemctl status`: values start in one column.
namespace lpmon::cli::text_report {

inline constexpr std::size_t kValueColumn = 17;

inline void field(std::ostream& out, std::string_view label, std::string_view value,
                  std::size_t indent = 0) {
  std::string head(indent, ' ');
  head += label;
  head += ':';
  head.resize(std::max(kValueColumn, head.size() + 1), ' ');
  out << head << value << '\n';
}

// A further value of the field above, on its own line in the value column.
inline void continuation(std::ostream& out, std::string_view value) {
  out << std::string(kValueColumn, ' ') << value << '\n';
}

}  // namespace lpmon::cli::text_report
