#include "log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

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
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string quoted;
  for (char c : message) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c == '\n' ? ' ' : c;
  }
  std::lock_guard lock(write_mutex);
  std::fprintf(stderr, "ts=%s.%03lldZ level=%s msg=\"%s\"\n", ts, static_cast<long long>(ms),
               std::string(name(level)).c_str(), quoted.c_str());
}

}  // namespace lpmon::exporter
