// Cost of read_patches against a plain recursive walk of the same tree, the obvious way to
// read it. The walk also opens every (empty) function directory, which read_patches does not
// need to, so the reader can come out faster; a ratio well above 1 would mean it does too much.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>

#include "fake_kernel_tree.hpp"
#include "lpmon/livepatch_state.hpp"

namespace {

using lpmon::testing::FakeKernelTree;

constexpr int kFuncsPerPatch = 10;

// One tree per patch count, built on first use and shared by both benchmarks.
const FakeKernelTree& tree_with_patches(int patch_count) {
  static std::map<int, std::unique_ptr<FakeKernelTree>> trees;
  auto& tree = trees[patch_count];
  if (!tree) {
    tree = std::make_unique<FakeKernelTree>();
    for (int patch = 0; patch < patch_count; ++patch) {
      const auto dir = tree->add_patch("livepatch_" + std::to_string(patch), true, false);
      FakeKernelTree::write(dir / "vmlinux" / "patched", "1");
      for (int func = 0; func < kFuncsPerPatch; ++func) {
        FakeKernelTree::add_func(dir, "vmlinux", "func_" + std::to_string(func), 1);
      }
    }
  }
  return *tree;
}

void BM_ReadPatches(benchmark::State& state) {
  const FakeKernelTree& tree = tree_with_patches(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto patches = lpmon::read_patches(tree.paths());
    benchmark::DoNotOptimize(patches);
  }
}
BENCHMARK(BM_ReadPatches)->Arg(1)->Arg(20);

void BM_DirectoryWalk(benchmark::State& state) {
  const FakeKernelTree& tree = tree_with_patches(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::size_t entries = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(tree.livepatch_dir())) {
      benchmark::DoNotOptimize(entry);
      ++entries;
    }
    benchmark::DoNotOptimize(entries);
  }
}
BENCHMARK(BM_DirectoryWalk)->Arg(1)->Arg(20);

}  // namespace

BENCHMARK_MAIN();
