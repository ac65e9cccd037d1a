#pragma once

#include <string_view>

namespace lpmon::exporter {

enum class LogLevel { debug, info, warn, error };

// Sets the lowest level written; "debug", "info", "warn" or "error". False if unknown.
bool set_log_level(std::string_view level);

// One logfmt line on stderr, as Prometheus' own exporters write: ts=... level=... msg="...".
void log(LogLevel level, std::string_view message);

}  // namespace lpmon::exporter
