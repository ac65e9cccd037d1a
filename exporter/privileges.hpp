#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lpmon::exporter {

// Capabilities are per thread, and a thread starts with its creator's. The exporter's main
// thread drops all but serving_capabilities() before CivetWeb's and the transition poller's
// threads exist; the thread that attaches probes to patches arriving later drops all but
// attaching_capabilities() itself, first thing. threads_beyond() then reads every thread back.
struct DroppedCapabilities {
  std::string message;     // for the log
  std::uint64_t kept = 0;  // bit per capability still held
  // Whether the bounding set was cut down to `kept` too: that needs CAP_SETPCAP, which an
  // unprivileged user lacks (no_new_privs then keeps exec from using the bounding set).
  bool bounding_dropped = false;
};

// CAP_DAC_READ_SEARCH (other users' /proc/<pid>/patch_state is mode 0400), and
// CAP_NET_BIND_SERVICE with `low_port` (a port below 1024, bound by CivetWeb later).
std::vector<int> serving_capabilities(bool low_port);
// What attaching probes needs: CAP_BPF, CAP_PERFMON, CAP_SYSLOG (kallsyms addresses), and
// CAP_SYS_ADMIN (Debian's perf_event_paranoid=3 wants it for any perf event, and module BTF
// is found by iterating BTF ids), with CAP_DAC_READ_SEARCH.
std::vector<int> attaching_capabilities();
// Keeps `keep` (those of them the thread holds); every other capability goes for good, from
// the bounding set too when the thread may shrink it (CAP_SETPCAP), and no_new_privs is set.
// Only in the calling thread. Throws std::runtime_error when the kernel refuses.
DroppedCapabilities drop_capabilities(const std::vector<int>& keep);
// A mask of these capabilities.
std::uint64_t capability_mask(const std::vector<int>& caps);

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
// `allowed_by_thread`: threads allowed another set than `allowed` (the attaching thread).
std::vector<std::string> threads_beyond(
    std::uint64_t allowed, bool check_bounding,
    const std::map<pid_t, std::uint64_t>& allowed_by_thread = {},
    const std::filesystem::path& procfs_root = "/proc");

}  // namespace lpmon::exporter
