#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace lpmon::gate {

using Duration = std::chrono::milliseconds;

// Parses a duration as Argo and Prometheus write them: one or more <integer><unit> parts with
// units h, m, s, ms in that order, each at most once ("30s", "2m", "1h30m", "250ms"); "0" is
// zero. Returns nothing for anything else, including a bare number other than 0, so that
// "interval: 30" is refused rather than read as 30 ms or 30 s.
std::optional<Duration> parse_duration(std::string_view text);

// The inverse: "1h30m", "2m5s", "250ms", "0s".
std::string format_duration(Duration duration);

}  // namespace lpmon::gate
