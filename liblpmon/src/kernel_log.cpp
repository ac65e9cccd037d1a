#include "lpmon/kernel_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "kernel_file.hpp"
#include "lpmon/errors.hpp"

namespace lpmon {

bool is_kernel_problem(const KernelLogRecord& record) {
  // The first line of each report, as lib/bug.c, kernel/panic.c and arch/x86/kernel/dumpstack.c
  // and traps.c print them in 6.1.
  constexpr std::array<std::string_view, 6> kOpenings{
      "WARNING:", "BUG:", "kernel BUG at", "Oops:", "general protection fault", "Kernel panic"};
  for (std::string_view opening : kOpenings) {
    if (record.message.starts_with(opening)) return true;
  }
  return false;
}

bool parse_kmsg_record(std::string_view text, KernelLogRecord& record) {
  const auto semicolon = text.find(';');
  if (semicolon == std::string_view::npos) return false;
  const std::string_view header = text.substr(0, semicolon);
  std::string_view fields[4];
  std::size_t n = 0;
  std::size_t start = 0;
  while (n < 4) {
    const auto comma = header.find(',', start);
    fields[n++] = header.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (n < 3) return false;
  const auto prio = detail::parse_integer<int>(fields[0]);
  const auto seq = detail::parse_integer<std::uint64_t>(fields[1]);
  const auto usec = detail::parse_integer<std::uint64_t>(fields[2]);
  if (!prio || !seq || !usec) return false;
  std::string_view message = text.substr(semicolon + 1);
  // Continuation lines (" KEY=value" dictionary entries) follow the first newline.
  message = message.substr(0, message.find('\n'));
  record.level = *prio & 7;  // the facility is in the upper bits
  record.seq = *seq;
  record.usec = *usec;
  record.message = std::string(message);
  return true;
}

std::vector<KernelLogRecord> read_kernel_log(const std::filesystem::path& device) {
  const int fd = ::open(device.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return {};
  std::vector<KernelLogRecord> records;
  std::array<char, 8192> buffer;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && (errno == EINTR || errno == EPIPE)) continue;
    if (n <= 0) break;
    KernelLogRecord record;
    if (parse_kmsg_record(std::string_view(buffer.data(), static_cast<std::size_t>(n)), record)) {
      records.push_back(std::move(record));
    }
  }
  ::close(fd);
  return records;
}

std::optional<std::uint64_t> transition_start_usec(const std::vector<KernelLogRecord>& log,
                                                   std::string_view patch) {
  // kernel/livepatch/transition.c, klp_start_transition(), with livepatch's pr_fmt.
  const std::string opening = "livepatch: '" + std::string(patch) + "': starting ";
  for (auto it = log.rbegin(); it != log.rend(); ++it) {
    if (it->message.starts_with(opening) && it->message.ends_with(" transition")) return it->usec;
  }
  return std::nullopt;
}

KernelLog::KernelLog(const std::filesystem::path& device) {
  fd_ = ::open(device.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    const int error = errno;
    throw KernelError("cannot read the kernel log " + device.string() + ": " +
                      detail::errno_message(error) +
                      (error == EPERM || error == EACCES ? " (needs CAP_SYSLOG or root)" : ""));
  }
  // Only what is logged from now on.
  ::lseek(fd_, 0, SEEK_END);
}

KernelLog::~KernelLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<KernelLogRecord> KernelLog::read_new() {
  std::vector<KernelLogRecord> records;
  // One read returns one record; the kernel caps a record well below this.
  std::array<char, 8192> buffer;
  for (;;) {
    const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      // EPIPE: records were overwritten before we read them; the next read goes on.
      if (errno == EPIPE) {
        ++lost_;
        continue;
      }
      break;  // EAGAIN: nothing more
    }
    if (n == 0) break;
    KernelLogRecord record;
    if (parse_kmsg_record(std::string_view(buffer.data(), static_cast<std::size_t>(n)), record)) {
      records.push_back(std::move(record));
    }
  }
  return records;
}

}  // namespace lpmon
