#include "lpmon/rollout/audit_log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "lpmon/util/clock.hpp"

namespace lpmon::rollout {

AuditLog::AuditLog(const std::filesystem::path& file, std::string command)
    : command_(std::move(command)) {
  std::error_code ignored;
  std::filesystem::create_directories(file.parent_path(), ignored);
  file_.open(file, std::ios::app);
  if (!file_) {
    warning_ = "cannot write the audit log " + file.string() + ": " + std::strerror(errno) +
               "; recording to syslog only (--audit-log FILE)";
  }
  openlog("lpmon", LOG_PID, LOG_USER);
}

void AuditLog::record(std::string_view event, nlohmann::json fields) {
  nlohmann::json entry{{"time", utc_timestamp(std::chrono::system_clock::now())},
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

}  // namespace lpmon::rollout
