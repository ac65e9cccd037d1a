// What one `lpmon inspect` costs, part by part: the module file alone (a layout already
// parsed, as `lpmon verify` inspecting many modules has it), the kernel BTF that plain klp
// modules need, and the whole command as the CLI runs it (a fresh inspector each time).
#include <benchmark/benchmark.h>

#include "lpmon/kernel_image.hpp"
#include "lpmon/module_inspector.hpp"

namespace {

void BM_InspectModuleWithLayout(benchmark::State& state, const char* module) {
  lpmon::ModuleInspector inspector(lpmon::KlpLayout::from_btf(LPMON_TEST_VMLINUX));
  for (auto _ : state) benchmark::DoNotOptimize(inspector.inspect(module));
}
BENCHMARK_CAPTURE(BM_InspectModuleWithLayout, sample, LPMON_SAMPLE_KO)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_InspectModuleWithLayout, fixes_v2, LPMON_FIXES_V2_KO)
    ->Unit(benchmark::kMicrosecond);

void BM_KlpLayoutFromVmlinux(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(lpmon::KlpLayout::from_btf(LPMON_TEST_VMLINUX));
}
BENCHMARK(BM_KlpLayoutFromVmlinux)->Unit(benchmark::kMillisecond);

// The banner scan behind the "layout from another kernel" note.
void BM_VmlinuxRelease(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(lpmon::vmlinux_release(LPMON_TEST_VMLINUX));
}
BENCHMARK(BM_VmlinuxRelease)->Unit(benchmark::kMillisecond);

void BM_InspectAsTheCli(benchmark::State& state) {
  for (auto _ : state) {
    lpmon::ModuleInspector inspector({.kernel_btf = LPMON_TEST_VMLINUX, .paths = {}});
    benchmark::DoNotOptimize(inspector.inspect(LPMON_SAMPLE_KO));
  }
}
BENCHMARK(BM_InspectAsTheCli)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
