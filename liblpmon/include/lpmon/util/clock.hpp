#pragma once

#include <chrono>
#include <string>

namespace lpmon {

// CLOCK_MONOTONIC now: the clock of BPF timestamps and of /proc's uptime-based times.
std::chrono::nanoseconds monotonic_now();

// "2026-12-04T19:09:45.123Z": ISO 8601 in UTC, with `fraction_digits` (0, 3 or 6) digits of
// the second.
std::string utc_timestamp(std::chrono::system_clock::time_point t, int fraction_digits = 3);

// "1.234 s", with `decimals` digits, for messages about durations.
std::string seconds_text(std::chrono::nanoseconds d, int decimals = 3);

}  // namespace lpmon
