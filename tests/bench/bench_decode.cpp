// User-space cost of decoding the tracer's ring-buffer records, against a plain copy of the
// same bytes (the least any consumer pays). Stacks are decoded but not symbolized here.
#include <linux/types.h>

#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "lpmon/bpf/transition_tracer.hpp"
#include "transition.h"

namespace {

lpmon_transition_event transition_record() {
  lpmon_transition_event raw{};
  raw.type = LPMON_EVENT_TRANSITION;
  raw.kind = LPMON_TRANSITION_END;
  raw.timestamp_ns = 123456789;
  raw.duration_ns = 1500000000;
  raw.target_state = LPMON_TARGET_PATCHED;
  raw.result = LPMON_RESULT_COMPLETE;
  raw.rounds = 2;
  std::strcpy(raw.patch, "lpmon_fixes_v2");
  return raw;
}

lpmon_task_blocked_event blocked_record() {
  lpmon_task_blocked_event raw{};
  raw.type = LPMON_EVENT_TASK_BLOCKED;
  raw.reason = LPMON_BLOCK_SLEEPING_IN_FUNCTION;
  raw.pid = 4242;
  raw.tgid = 4242;
  raw.round = 3;
  raw.target_state = LPMON_TARGET_PATCHED;
  raw.error = -98;
  raw.stack_frames = 12;
  std::strcpy(raw.comm, "cat");
  std::strcpy(raw.function, "lpmon_target_wait_released");
  std::strcpy(raw.patch, "lpmon_fixes_v2");
  for (int i = 0; i < 12; ++i) raw.stack[i] = 0xffffffffc0000000ULL + 0x40 * i;
  return raw;
}

template <typename Record>
void BM_Copy(benchmark::State& state, Record raw) {
  std::vector<char> out(sizeof raw);
  for (auto _ : state) {
    std::memcpy(out.data(), &raw, sizeof raw);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename Record>
void BM_Decode(benchmark::State& state, Record raw) {
  for (auto _ : state) {
    auto event = lpmon::bpf::decode_trace_event(&raw, sizeof raw);
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_Copy, transition, transition_record());
BENCHMARK_CAPTURE(BM_Decode, transition, transition_record());
BENCHMARK_CAPTURE(BM_Copy, task_blocked, blocked_record());
BENCHMARK_CAPTURE(BM_Decode, task_blocked, blocked_record());

}  // namespace

BENCHMARK_MAIN();
