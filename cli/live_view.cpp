#include "live_view.hpp"

#include <csignal>
#include <cstdio>
#include <ctime>

namespace lpmon::cli {
namespace {

volatile std::sig_atomic_t stop_flag = 0;
void request_stop(int) {
  stop_flag = 1;
}

}  // namespace

void stop_on_signals() {
  stop_flag = 0;
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
}

void restore_default_signals() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

bool stop_requested() {
  return stop_flag != 0;
}

std::string clock_text(std::chrono::system_clock::time_point wall, bool millis) {
  const auto since_epoch = wall.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  if (millis) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    std::snprintf(text, sizeof text, "%02d:%02d:%02d.%03lld", local.tm_hour, local.tm_min,
                  local.tm_sec, static_cast<long long>(ms));
  } else {
    std::snprintf(text, sizeof text, "%02d:%02d:%02d", local.tm_hour, local.tm_min, local.tm_sec);
  }
  return text;
}

}  // namespace lpmon::cli
