#pragma once

// Values that more than one command takes on its command line, parsed one way: a gate arg
// (`--arg NAME=VALUE`, lpmon gate and lpmon apply) and a positive duration (`--timeout`).

#include <map>
#include <optional>
#include <string>

#include "lpmon/gate/duration.hpp"

namespace lpmon::cli {

// Adds NAME=VALUE to args; on a malformed or repeated NAME, the reason and args unchanged.
std::optional<std::string> add_gate_arg(std::map<std::string, std::string>& args,
                                        const std::string& spec);

// A duration above zero ("30s", "2m"), or nothing.
std::optional<gate::Duration> positive_duration(const std::string& text);

}  // namespace lpmon::cli
