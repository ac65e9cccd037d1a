#include "log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include "lpmon/util/clock.hpp"

namespace lpmon::exporter {
namespace {

std::atomic<LogLevel> minimum{LogLevel::info};
std::mutex write_mutex;

constexpr std::string_view name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

}  // namespace

bool set_log_level(std::string_view level) {
  for (auto l : {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error}) {
    if (name(l) == level) {
      minimum = l;
      return true;
    }
  }
  return false;
}

void log(LogLevel level, std::string_view message) {
  if (level < minimum.load()) return;
  const auto now = std::chrono::system_clock::now();
  std::string quoted;
  for (char c : message) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c == '\n' ? ' ' : c;
  }
  std::lock_guard lock(write_mutex);
  std::fprintf(stderr, "ts=%s level=%s msg=\"%s\"\n", utc_timestamp(now).c_str(),
               std::string(name(level)).c_str(), quoted.c_str());
}

}  // namespace lpmon::exporter
