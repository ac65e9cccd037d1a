#include "audit_log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace lpmon::cli {
namespace {

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return text;
}

}  // namespace

AuditLog::AuditLog(const std::filesystem::path& file, std::string command, std::ostream& err)
    : command_(std::move(command)) {
  std::error_code ignored;
  std::filesystem::create_directories(file.parent_path(), ignored);
  file_.open(file, std::ios::app);
  if (!file_) {
    err << "lpmon " << command_ << ": warning: cannot write the audit log " << file.string() << ": "
        << std::strerror(errno) << "; recording to syslog only (--audit-log FILE)\n";
  }
  openlog("lpmon", LOG_PID, LOG_USER);
}

void AuditLog::record(std::string_view event, nlohmann::json fields) {
  nlohmann::json entry{{"time", utc_now()},
                       {"command", command_},
                       {"event", event},
                       {"pid", ::getpid()},
                       {"uid", ::getuid()}};
  // Whoever ran sudo, not only "root".
  if (const char* sudo_user = std::getenv("SUDO_USER")) entry["sudo_user"] = sudo_user;
  entry.update(fields);
  const std::string line = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (file_) {
    file_ << line << '\n';
    file_.flush();
  }
  syslog(LOG_NOTICE, "%s", line.c_str());
}

}  // namespace lpmon::cli
