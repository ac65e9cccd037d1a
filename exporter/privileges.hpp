#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lpmon::exporter {

// Capabilities are per thread, and a thread starts with its creator's: so the exporter drops
// them in its only thread, before CivetWeb's and the collectors' threads exist, then checks
// every thread (check_every_thread) before it serves.
struct DroppedCapabilities {
  std::string message;     // for the log
  std::uint64_t kept = 0;  // bit per capability still held
  // Whether the bounding set was cut down to `kept` too: that needs CAP_SETPCAP, which an
  // unprivileged user lacks (no_new_privs then keeps exec from using the bounding set).
  bool bounding_dropped = false;
};

// Keeps CAP_DAC_READ_SEARCH (other users' /proc/<pid>/patch_state is mode 0400),
// CAP_NET_BIND_SERVICE with `low_port` (a port below 1024) and, with `attaching`, what
// attaching probes to patches that arrive later needs (CAP_BPF, CAP_PERFMON; CAP_SYSLOG for
// kallsyms addresses); every other capability goes for good, from the bounding set too, and
// no_new_privs is set. Only in the calling thread. Throws std::runtime_error when the kernel
// refuses.
DroppedCapabilities drop_capabilities(bool attaching, bool low_port = false);

// What one thread holds, from /proc/<pid>/task/<tid>/status.
struct ThreadPrivileges {
  std::uint64_t effective = 0, permitted = 0, inheritable = 0, bounding = 0, ambient = 0;
  bool no_new_privs = false;
};
// Parses a status file's CapInh, CapPrm, CapEff, CapBnd, CapAmb and NoNewPrivs lines;
// nullopt when one is missing.
std::optional<ThreadPrivileges> parse_thread_status(std::string_view status);

// The threads of this process (procfs_root/self/task) that hold more than `allowed` in their
// effective, permitted, inheritable or ambient set (or bounding set, with `check_bounding`),
// lack no_new_privs, or whose status cannot be read: one line each, for the log; empty when
// every thread is as it must be.
std::vector<std::string> threads_beyond(std::uint64_t allowed, bool check_bounding,
                                        const std::filesystem::path& procfs_root = "/proc");

}  // namespace lpmon::exporter
