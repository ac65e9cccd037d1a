#include <linux/types.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>

#include "fake_kernel_tree.hpp"
#include "lpmon/bpf/probe.hpp"
#include "lpmon/bpf/task_state.hpp"
#include "lpmon/livepatch_state.hpp"

extern "C" {
#include "task_state.h"
}

namespace lpmon::bpf {
namespace {

using testing::FakeKernelTree;
using ::testing::IsEmpty;

constexpr const char* kKallsyms =
    "ffffffff81000000 T _text\n"
    "ffffffff81000100 t __schedule\n"
    "ffffffff81000400 T schedule\n"
    "ffffffff82000000 D jiffies\n"  // data: never in a stack
    "ffffffff81000800 W arch_weak_hook\n"
    "ffffffffc0a01000 t lpmon_target_check_len\t[lpmon_target]\n"
    "ffffffffc0a01040 t lpmon_target_wait_released\t[lpmon_target]\n"
    "ffffffffc0a02000 t lpmon_target_wait_released\t[lpmon_fixes_v2]\n"
    "0000000000000000 t hidden_without_privileges\n"
    "not-hex t junk\n";

TEST(KernelSymbols, ResolvesKernelAndModuleTextSymbols) {
  KernelSymbols symbols;
  symbols.load_kallsyms(kKallsyms);

  EXPECT_TRUE(symbols.available());
  EXPECT_EQ(symbols.describe(0xffffffff81000100), "__schedule+0x0");
  EXPECT_EQ(symbols.describe(0xffffffff810002f4), "__schedule+0x1f4");
  EXPECT_EQ(symbols.describe(0xffffffff81000404), "schedule+0x4");
  EXPECT_EQ(symbols.describe(0xffffffff81000810), "arch_weak_hook+0x10");
  EXPECT_EQ(symbols.describe(0xffffffffc0a0104b), "lpmon_target_wait_released+0xb [lpmon_target]");
  // The same name in the livepatch module is told apart by its module.
  EXPECT_EQ(symbols.describe(0xffffffffc0a02010),
            "lpmon_target_wait_released+0x10 [lpmon_fixes_v2]");
}

TEST(KernelSymbols, DataSymbolsAreNotUsed) {
  KernelSymbols symbols;
  symbols.load_kallsyms(kKallsyms);

  // Past jiffies (data), the nearest text symbol below is arch_weak_hook.
  EXPECT_EQ(symbols.describe(0xffffffff82000010), "arch_weak_hook+0xfff810");
}

TEST(KernelSymbols, BelowEverySymbolOrUnavailableIsEmpty) {
  KernelSymbols symbols;
  symbols.load_kallsyms(kKallsyms);
  EXPECT_EQ(symbols.describe(0x1000), "");

  // Without CAP_SYSLOG every address reads as zero.
  KernelSymbols hidden;
  hidden.load_kallsyms(
      "0000000000000000 T _text\n0000000000000000 t lpmon_target_check_len\t[lpmon_target]\n");
  EXPECT_FALSE(hidden.available());
  EXPECT_EQ(hidden.describe(0xffffffff81000100), "");
}

TEST(KernelSymbols, RefreshRereadsKallsymsOnlyWhenModulesChange) {
  FakeKernelTree tree;
  const auto procfs = tree.paths().procfs;
  FakeKernelTree::write(procfs / "modules", "lpmon_target 16384 0 - Live 0xffffffffc0a01000");
  FakeKernelTree::write(procfs / "kallsyms", "ffffffffc0a01000 t first\t[lpmon_target]");
  KernelSymbols symbols(tree.paths());

  symbols.refresh();
  EXPECT_EQ(symbols.describe(0xffffffffc0a01004), "first+0x4 [lpmon_target]");

  // A reference count changes, nothing moves: the old symbols stay.
  FakeKernelTree::write(procfs / "modules",
                        "lpmon_target 16384 1 lpmon_fixes_v2, Live 0xffffffffc0a01000");
  FakeKernelTree::write(procfs / "kallsyms", "ffffffffc0a01000 t second\t[lpmon_target]");
  symbols.refresh();
  EXPECT_EQ(symbols.describe(0xffffffffc0a01004), "first+0x4 [lpmon_target]");

  // A module is loaded: kallsyms is read again.
  FakeKernelTree::write(procfs / "modules",
                        "lpmon_fixes_v2 16384 1 - Live 0xffffffffc0a02000\n"
                        "lpmon_target 16384 1 lpmon_fixes_v2, Live 0xffffffffc0a01000");
  symbols.refresh();
  EXPECT_EQ(symbols.describe(0xffffffffc0a01004), "second+0x4 [lpmon_target]");
}

TEST(KernelSymbols, MissingKallsymsResolvesNothing) {
  FakeKernelTree tree;
  KernelSymbols symbols(tree.paths());
  symbols.refresh();
  EXPECT_FALSE(symbols.available());
  EXPECT_EQ(symbols.describe(0xffffffff81000100), "");
}

lpmon_task_state_record raw_record() {
  lpmon_task_state_record raw;
  std::memset(&raw, 0, sizeof raw);
  raw.pid = 4242;
  raw.tgid = 4240;
  raw.patch_state = LPMON_TASK_PATCH_UNPATCHED;
  std::memcpy(raw.comm, "cat", 3);
  raw.stack_frames = 2;
  raw.stack[0] = 0xffffffff81000104;
  raw.stack[1] = 0xffffffffc0a0104b;
  return raw;
}

TEST(DecodeTaskStateRecord, Fields) {
  EXPECT_EQ(sizeof(lpmon_task_state_record), 296u);
  EXPECT_EQ(offsetof(lpmon_task_state_record, stack), 40u);
  lpmon_task_state_record raw = raw_record();
  raw.flags = LPMON_TASK_STATE_KTHREAD;
  raw.on_cpu = 1;

  const TaskStateTask task = decode_task_state_record(&raw, sizeof raw);

  EXPECT_EQ(task.pid, 4242);
  EXPECT_EQ(task.tgid, 4240);
  EXPECT_EQ(task.comm, "cat");
  EXPECT_EQ(task.patch_state, kTaskUnpatched);
  EXPECT_TRUE(task.kthread);
  EXPECT_TRUE(task.on_cpu);
  EXPECT_EQ(task.stack_error, 0);
  ASSERT_EQ(task.stack.size(), 2u);
  EXPECT_EQ(task.stack[1].address, 0xffffffffc0a0104bu);
}

TEST(DecodeTaskStateRecord, StackErrorFullCommAndWrongSize) {
  lpmon_task_state_record raw = raw_record();
  raw.stack_frames = -14;
  std::memset(raw.comm, 'x', sizeof raw.comm);

  const TaskStateTask task = decode_task_state_record(&raw, sizeof raw);
  EXPECT_EQ(task.stack_error, 14);
  EXPECT_THAT(task.stack, IsEmpty());
  EXPECT_EQ(task.comm, std::string(16, 'x'));

  EXPECT_THROW(decode_task_state_record(&raw, sizeof raw - 8), BpfError);
  try {
    decode_task_state_record(&raw, 8);
  } catch (const BpfError& error) {
    EXPECT_STREQ(error.what(), "task state record of 8 bytes, expected 296");
  }
}

// Loads the iterator into the running kernel, which on the development machines has no
// livepatch: the object must load there too (patch_state is behind a CO-RE existence check).
TEST(TaskStateScanner, ScansTheRunningKernel) {
  if (geteuid() != 0) GTEST_SKIP() << "loading BPF needs root";
  if (!std::filesystem::exists("/sys/kernel/btf/vmlinux")) GTEST_SKIP() << "kernel lacks BTF";

  TaskStateScanner scanner;
  // No transition runs here: every task is idle, so asking for "patched" lists them all.
  const TaskStateScan scan = scanner.scan(kTaskPatched);

  EXPECT_EQ(scan.patch_state_available, livepatch_supported({}));
  EXPECT_GT(scan.total(), 1u);
  EXPECT_EQ(scan.idle, scan.total());
  EXPECT_EQ(scan.not_at_target.size(), scan.total());
  EXPECT_TRUE(
      std::is_sorted(scan.not_at_target.begin(), scan.not_at_target.end(),
                     [](const TaskStateTask& a, const TaskStateTask& b) { return a.pid < b.pid; }));
  const auto self = std::find_if(scan.not_at_target.begin(), scan.not_at_target.end(),
                                 [](const TaskStateTask& t) { return t.pid == gettid(); });
  ASSERT_NE(self, scan.not_at_target.end());
  EXPECT_EQ(self->tgid, getpid());
  EXPECT_FALSE(self->kthread);
  EXPECT_EQ(self->patch_state, kTaskPatchIdle);
  // It read its own stack as it ran: inside the read() of the iterator.
  ASSERT_FALSE(self->stack.empty());
  EXPECT_TRUE(std::any_of(self->stack.begin(), self->stack.end(), [](const StackFrame& f) {
    return f.symbol.starts_with("bpf_seq_read+") || f.symbol.starts_with("vfs_read+");
  }));

  // At target "idle" nothing is listed, and the counts stay whole.
  const TaskStateScan idle = scanner.scan(kTaskPatchIdle);
  EXPECT_THAT(idle.not_at_target, IsEmpty());
  EXPECT_EQ(idle.idle, idle.total());
  EXPECT_GT(idle.total(), 1u);
}

}  // namespace
}  // namespace lpmon::bpf
