// User-space cost of lpmon calls per function and interval: summing the per-CPU counters of
// one map lookup, and formatting the interval as text or JSON. Each has a baseline measured in
// the same run: a plain copy of the lookup's bytes for the sum, and one snprintf per slot for
// the formatting. tests/bench/RESULTS-calls.md has the ratios.
#include <linux/types.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "calls.hpp"
#include "lpmon/bpf/patched_calls.hpp"

extern "C" {
#include "patched_calls.h"
}

namespace {

std::vector<lpmon_calls_stats> per_cpu_values(int cpus) {
  std::vector<lpmon_calls_stats> values(static_cast<std::size_t>(cpus));
  for (std::size_t cpu = 0; cpu < values.size(); ++cpu) {
    auto& v = values[cpu];
    std::memset(&v, 0, sizeof v);
    v.calls = 1000 + cpu;
    v.timed = 1000;
    v.total_ns = 300000;
    for (std::size_t i = 0; i < LPMON_CALLS_SLOTS; ++i) v.slots[i] = i * cpu;
  }
  return values;
}

void BM_CopyPerCpuValues(benchmark::State& state) {
  const auto values = per_cpu_values(static_cast<int>(state.range(0)));
  std::vector<lpmon_calls_stats> copy(values.size());
  for (auto _ : state) {
    std::memcpy(copy.data(), values.data(), values.size() * sizeof(lpmon_calls_stats));
    benchmark::DoNotOptimize(copy.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_CopyPerCpuValues)->Arg(2)->Arg(16)->Arg(256);

void BM_SumPerCpuCounters(benchmark::State& state) {
  const auto values = per_cpu_values(static_cast<int>(state.range(0)));
  const auto* bytes = reinterpret_cast<const std::byte*>(values.data());
  for (auto _ : state) {
    auto sum = lpmon::bpf::sum_per_cpu_counters({bytes, values.size() * sizeof(lpmon_calls_stats)});
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_SumPerCpuCounters)->Arg(2)->Arg(16)->Arg(256);

// Every slot in use: the most a histogram prints.
lpmon::cli::CallsSample full_sample() {
  lpmon::cli::CallsSample s;
  s.function.function = {"lpmon_target", "lpmon_target_check_len", 1};
  s.function.patches = {"lpmon_fixes_v2"};
  s.function.counters = {
      .calls = 123456789, .timed = 123456000, .total_ns = 987654321, .latency = {}};
  s.delta = {.calls = 100000, .timed = 100000, .total_ns = 51200000, .latency = {}};
  for (std::size_t i = 0; i < lpmon::bpf::Log2Histogram::kSlots; ++i) {
    s.delta.latency.slots[i] = 1 + i * 97;
  }
  s.interval = std::chrono::seconds(1);
  return s;
}

void BM_SnprintfSlots(benchmark::State& state) {
  const auto s = full_sample();
  char line[160];
  for (auto _ : state) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < lpmon::bpf::Log2Histogram::kSlots; ++i) {
      n += static_cast<std::size_t>(
          std::snprintf(line, sizeof line, "%zu : %llu\n", i,
                        static_cast<unsigned long long>(s.delta.latency.slots[i])));
    }
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_SnprintfSlots);

void BM_FormatCallsText(benchmark::State& state) {
  const auto s = full_sample();
  const auto wall = std::chrono::system_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(lpmon::cli::format_calls_text(s, wall));
}
BENCHMARK(BM_FormatCallsText);

void BM_FormatCallsJson(benchmark::State& state) {
  const auto s = full_sample();
  const auto wall = std::chrono::system_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(lpmon::cli::calls_to_json(s, wall).dump());
}
BENCHMARK(BM_FormatCallsJson);

}  // namespace

BENCHMARK_MAIN();
