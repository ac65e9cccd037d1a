#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lpmon::rollout {

// Where lpmon apply and revert record what they did to the kernel, one JSON object per line.
inline constexpr std::string_view kDefaultAuditLog = "/var/log/lpmon/audit.log";

// The record of every change lpmon makes to the kernel's patches: a JSON line per step in a
// file, and the same as a syslog message (which journald keeps), so that "who patched this
// host, when, and what did the gate say" has an answer after the fact.
class AuditLog {
 public:
  // A file that cannot be opened leaves a warning(); syslog still gets the records.
  AuditLog(const std::filesystem::path& file, std::string command);

  // Why the file is not written, for the user; empty when it is.
  const std::string& warning() const { return warning_; }

  // `event` is e.g. "load", "transition-complete", "gate", "disable", "unload".
  void record(std::string_view event, nlohmann::json fields = nlohmann::json::object());

 private:
  std::string command_;
  std::ofstream file_;
  std::string warning_;
};

}  // namespace lpmon::rollout
