// Cost of one per-task patch-state scan of the running kernel: the BPF task iterator
// (TaskStateScanner) against procfs (census_task_patch_states, one /proc/<pid>/patch_state per
// process), both asked for the same target state. With --stacks the tasks not at the target also
// get their kernel stacks: symbolized by lpmon from the iterator, from /proc/<pid>/stack for
// procfs. Runs as root in the guest (tests/vm/scenarios/bench_tasks.sh) on whatever tasks
// exist; numbers only, see tests/bench/RESULTS-tasks.md.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "lpmon/bpf/task_state.hpp"
#include "lpmon/livepatch_state.hpp"

namespace {

struct Config {
  int target = lpmon::kTaskPatchIdle;
  bool stacks = false;
};

void BM_BpfTaskIterator(benchmark::State& state, lpmon::bpf::TaskStateScanner* scanner,
                        Config config) {
  std::size_t tasks = 0, listed = 0;
  for (auto _ : state) {
    const auto scan = scanner->scan(config.target, config.stacks);
    tasks = scan.total();
    listed = scan.not_at_target.size();
    benchmark::DoNotOptimize(scan);
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["listed"] = static_cast<double>(listed);
}

void BM_Procfs(benchmark::State& state, Config config) {
  const lpmon::KernelPaths paths;
  std::size_t tasks = 0, listed = 0;
  for (auto _ : state) {
    const auto census = lpmon::census_task_patch_states(paths, config.target);
    tasks = census.idle + census.unpatched + census.patched;
    listed = census.not_at_target.size();
    if (config.stacks) {
      for (const pid_t pid : census.not_at_target) {
        std::ifstream file(paths.procfs / std::to_string(pid) / "stack");
        std::string stack{std::istreambuf_iterator<char>(file), {}};
        benchmark::DoNotOptimize(stack);
      }
    }
    benchmark::DoNotOptimize(census);
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["listed"] = static_cast<double>(listed);
}

}  // namespace

// Flags of its own, besides Google Benchmark's: --target=-1|0|1 and --stacks.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--target=")) {
      config.target = std::atoi(argv[i] + std::strlen("--target="));
    } else if (arg == "--stacks") {
      config.stacks = true;
    } else {
      std::cerr << "bench_tasks: unknown argument " << arg << "\n";
      return 2;
    }
  }
  lpmon::bpf::TaskStateScanner scanner;
  // Reads kallsyms once, outside the timings, as a long-running exporter would have.
  scanner.scan(config.target, config.stacks);

  benchmark::RegisterBenchmark("BM_BpfTaskIterator", BM_BpfTaskIterator, &scanner, config)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_Procfs", BM_Procfs, config)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
