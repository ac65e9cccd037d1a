#include "lpmon/bpf/bpf_stats.hpp"

#include <linux/bpf.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "lpmon/bpf/probe.hpp"

namespace lpmon::bpf {

double ProgramCost::ns_per_run() const {
  return run_count ? static_cast<double>(run_time.count()) / static_cast<double>(run_count) : 0.0;
}

RunTimeStats::RunTimeStats() : fd_(bpf_enable_stats(BPF_STATS_RUN_TIME)) {
  if (fd_ < 0) {
    const int err = errno;
    std::string message =
        "cannot turn on BPF run-time statistics: " + std::string(std::strerror(err));
    if (err == EPERM) message += " (needs root or CAP_SYS_ADMIN)";
    if (err == EINVAL) message += " (needs Linux 5.8 or later)";
    throw BpfError(message);
  }
}

RunTimeStats::~RunTimeStats() {
  ::close(fd_);
}

ProgramCost program_cost(int prog_fd) {
  bpf_prog_info info{};
  std::uint32_t length = sizeof info;
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &length) != 0) {
    const int err = errno;
    throw BpfError("cannot read the run-time statistics of BPF program fd " +
                   std::to_string(prog_fd) + ": " + std::strerror(err));
  }
  ProgramCost cost;
  cost.id = info.id;
  cost.name.assign(info.name, strnlen(info.name, sizeof info.name));
  cost.run_count = info.run_cnt;
  cost.run_time = std::chrono::nanoseconds(info.run_time_ns);
  cost.recursion_misses = info.recursion_misses;
  return cost;
}

std::vector<ProgramCost> program_costs(const bpf_object* object) {
  std::vector<ProgramCost> costs;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, object) {
    const int fd = bpf_program__fd(prog);
    if (fd >= 0) costs.push_back(program_cost(fd));  // programs not loaded have no fd
  }
  return costs;
}

}  // namespace lpmon::bpf
