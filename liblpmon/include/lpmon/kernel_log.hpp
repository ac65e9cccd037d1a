#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lpmon {

// One record of the kernel log (/dev/kmsg: "prio,seq,usec,flags;message").
struct KernelLogRecord {
  int level = 6;           // syslog level: 0 emerg .. 7 debug
  std::uint64_t seq = 0;   // the kernel's record number
  std::uint64_t usec = 0;  // microseconds since boot
  std::string message;
};

// Whether a record opens a report the gate counts as a kernel problem: WARNING, BUG, Oops,
// general protection fault or panic.
bool is_kernel_problem(const KernelLogRecord& record);

// Parses one /dev/kmsg record into `record`; false for text that is not one.
bool parse_kmsg_record(std::string_view text, KernelLogRecord& record);

// The records still in the kernel's log buffer, oldest first; empty when it cannot be read.
std::vector<KernelLogRecord> read_kernel_log(const std::filesystem::path& device = "/dev/kmsg");

// When the kernel logged the start of the last transition of `patch` (livepatch's
// "'<patch>': starting patching transition"), in microseconds since boot; nullopt when the
// log no longer has it. sysfs does not tell how long a transition has run; the log does.
std::optional<std::uint64_t> transition_start_usec(const std::vector<KernelLogRecord>& log,
                                                   std::string_view patch);

// The kernel log from the moment of construction on: what the kernel logs while lpmon acts
// (livepatch's reasons for refusing a patch, WARNINGs from replacement code).
class KernelLog {
 public:
  // Throws KernelError when the log cannot be opened (it needs CAP_SYSLOG with
  // kernel.dmesg_restrict=1).
  explicit KernelLog(const std::filesystem::path& device = "/dev/kmsg");
  ~KernelLog();
  KernelLog(const KernelLog&) = delete;
  KernelLog& operator=(const KernelLog&) = delete;

  // Records logged since the last call (or construction), without waiting. Records the kernel
  // dropped before they were read are counted in lost().
  std::vector<KernelLogRecord> read_new();
  std::uint64_t lost() const { return lost_; }

 private:
  int fd_ = -1;
  std::uint64_t lost_ = 0;
};

}  // namespace lpmon
