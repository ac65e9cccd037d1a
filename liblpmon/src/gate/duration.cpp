#include "lpmon/gate/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace lpmon::gate {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t ms;
};

// Longest names first where one is a prefix of another ("ms" before "m").
constexpr std::array<Unit, 4> kUnits{{{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Duration{0};
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // units must come in kUnits' order, each once
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    const std::size_t digits_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (number > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return std::nullopt;
      number = number * 10 + (text[i] - '0');
      ++i;
    }
    if (i == digits_start) return std::nullopt;
    std::size_t unit_end = i;
    while (unit_end < text.size() && text[unit_end] >= 'a' && text[unit_end] <= 'z') ++unit_end;
    const std::string_view unit_name = text.substr(i, unit_end - i);
    std::size_t unit = next_unit;
    while (unit < kUnits.size() && kUnits[unit].name != unit_name) ++unit;
    if (unit == kUnits.size()) return std::nullopt;
    if (number > (std::numeric_limits<std::int64_t>::max() - total) / kUnits[unit].ms) {
      return std::nullopt;
    }
    total += number * kUnits[unit].ms;
    next_unit = unit + 1;
    i = unit_end;
  }
  return Duration{total};
}

std::string format_duration(Duration duration) {
  std::int64_t left = duration.count();
  if (left == 0) return "0s";
  std::string text;
  if (left < 0) {
    text = "-";
    left = -left;
  }
  for (const Unit& unit : kUnits) {
    if (left >= unit.ms) {
      text += std::to_string(left / unit.ms) + std::string(unit.name);
      left %= unit.ms;
    }
  }
  return text;
}

}  // namespace lpmon::gate
