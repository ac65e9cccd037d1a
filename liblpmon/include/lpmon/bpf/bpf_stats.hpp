#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

struct bpf_object;

namespace lpmon::bpf {

// What one loaded BPF program has cost, from the kernel's run-time statistics. Runs are
// counted only while the statistics are on (RunTimeStats, or sysctl kernel.bpf_stats_enabled).
struct ProgramCost {
  std::uint32_t id = 0;  // the kernel's program id, as `bpftool prog show id N` takes it
  std::string name;      // at most 15 characters (BPF_OBJ_NAME_LEN)
  std::uint64_t run_count = 0;
  std::chrono::nanoseconds run_time{};  // in the program itself, summed over its runs
  // Runs skipped because the program was already running on that CPU: events it missed.
  std::uint64_t recursion_misses = 0;

  // run_time / run_count, 0 without runs.
  double ns_per_run() const;
};

// Turns the kernel's BPF run-time statistics on for as long as it lives (BPF_ENABLE_STATS;
// the kernel keeps them on while any such fd is open). They add two clock reads to every run
// of every BPF program on the machine, so lpmon turns them on only when asked.
class RunTimeStats {
 public:
  // Throws BpfError: it needs CAP_SYS_ADMIN and a kernel >= 5.8.
  RunTimeStats();
  ~RunTimeStats();
  RunTimeStats(const RunTimeStats&) = delete;
  RunTimeStats& operator=(const RunTimeStats&) = delete;

 private:
  int fd_;
};

// The cost so far of the program behind prog_fd. Throws BpfError.
ProgramCost program_cost(int prog_fd);

// Of every loaded program of an object, e.g. a skeleton's obj, in the object's order.
std::vector<ProgramCost> program_costs(const bpf_object* object);

}  // namespace lpmon::bpf
