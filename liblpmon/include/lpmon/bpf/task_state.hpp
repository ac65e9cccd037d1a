#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lpmon/kernel_paths.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::bpf {

// One frame of a kernel stack that a BPF program took (bpf_get_task_stack).
struct StackFrame {
  std::uint64_t address = 0;  // a return address
  std::string symbol;         // "func+0x4b [module]", or empty when unknown
};

// Kernel addresses to names, from /proc/kallsyms (module symbols included). Addresses there
// read as zero without CAP_SYSLOG (kptr_restrict); then nothing resolves.
class KernelSymbols {
 public:
  explicit KernelSymbols(KernelPaths paths = {});

  // Reads /proc/kallsyms on first use and again whenever the set of loaded modules (from
  // /proc/modules) has changed since, so a module loaded after the tracer started resolves.
  void refresh();

  // "func+0x4b" or "func+0x4b [module]"; empty when the address is below every symbol or the
  // symbols are unavailable. Text symbols only: a stack holds code addresses.
  std::string describe(std::uint64_t address) const;

  // Whether any symbol has a real address.
  bool available() const { return !symbols_.empty(); }

  // Every text symbol in address order, each up to the next one's address (the last: up to
  // its own address + 1): what an address range classifier needs.
  struct Range {
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    std::string_view name;
    std::string_view module;  // empty for vmlinux
  };
  std::vector<Range> ranges() const;

  // Parses kallsyms text; exposed for tests.
  void load_kallsyms(std::string_view text);

 private:
  struct Symbol {
    std::uint64_t address;
    std::uint32_t name;    // offset into names_
    std::uint32_t module;  // offset into names_, or kNoModule
  };
  static constexpr std::uint32_t kNoModule = 0xffff'ffff;

  KernelPaths paths_;
  std::string modules_seen_;  // module names and addresses at the last read
  bool loaded_ = false;
  std::string names_;  // NUL-separated
  std::vector<Symbol> symbols_;
};

struct TaskStateTask {
  pid_t pid = 0;  // the task's own id (a thread id)
  pid_t tgid = 0;
  std::string comm;
  int patch_state = kTaskPatchIdle;  // task_struct->patch_state: kTaskPatch*
  bool kthread = false;
  bool on_cpu = false;            // running as it was read: the stack is a moving snapshot
  int stack_error = 0;            // errno when the stack could not be read
  std::vector<StackFrame> stack;  // innermost first
};

struct TaskStateScan {
  // False on a kernel without CONFIG_LIVEPATCH (task_struct has no patch_state): then every
  // task counts as idle.
  bool patch_state_available = false;
  std::size_t idle = 0;
  std::size_t unpatched = 0;
  std::size_t patched = 0;
  std::size_t other = 0;                     // a value klp does not define
  std::vector<TaskStateTask> not_at_target;  // ascending pid

  std::size_t total() const { return idle + unpatched + patched + other; }
};

// Decodes one record of the iterator's output (struct lpmon_task_state_record), stack not yet
// symbolized. Throws BpfError when size is not the record's.
TaskStateTask decode_task_state_record(const void* data, std::size_t size);

// Loads bpf/task_state.bpf.c, an iter/task program that reads every task's patch_state in one
// pass (threads and kernel threads alike; the per-CPU idle tasks are not in the task list).
// Works on kernels without livepatch. Not thread-safe: one scan at a time.
class TaskStateScanner {
 public:
  // Throws BpfError with a message meant for the user.
  explicit TaskStateScanner(const KernelPaths& paths = {});
  ~TaskStateScanner();
  TaskStateScanner(const TaskStateScanner&) = delete;
  TaskStateScanner& operator=(const TaskStateScanner&) = delete;

  // Counts tasks per patch state and lists those not at target_state (kTaskPatch*) with their
  // kernel stacks, symbolized when `symbolize`. Throws BpfError.
  TaskStateScan scan(int target_state, bool symbolize = true);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lpmon::bpf
