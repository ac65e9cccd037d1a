#pragma once

// What the live commands (trace, calls, calls --profile) share: stopping on Ctrl-C and the
// local wall-clock column of their lines.

#include <chrono>
#include <string>

namespace lpmon::cli {

// Installs SIGINT/SIGTERM handlers that only set a flag, so a live loop ends cleanly.
void stop_on_signals();
// Puts the default handlers back when the loop is over.
void restore_default_signals();
bool stop_requested();

// "HH:MM:SS" in local time, or "HH:MM:SS.mmm" with millis.
std::string clock_text(std::chrono::system_clock::time_point wall, bool millis = false);

}  // namespace lpmon::cli
