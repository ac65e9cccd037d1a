#include "option_values.hpp"

namespace lpmon::cli {

std::optional<std::string> add_gate_arg(std::map<std::string, std::string>& args,
                                        const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) return "'" + spec + "': expected NAME=VALUE";
  if (!args.emplace(spec.substr(0, eq), spec.substr(eq + 1)).second) {
    return spec.substr(0, eq) + " is given twice";
  }
  return std::nullopt;
}

std::optional<gate::Duration> positive_duration(const std::string& text) {
  const std::optional<gate::Duration> parsed = gate::parse_duration(text);
  if (!parsed || parsed->count() <= 0) return std::nullopt;
  return parsed;
}

}  // namespace lpmon::cli
