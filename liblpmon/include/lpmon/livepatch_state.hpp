#pragma once

#include <sys/types.h>

#include <compare>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lpmon/kernel_paths.hpp"

namespace lpmon {

// A patched function: directory /sys/kernel/livepatch/<patch>/<object>/<name>,<sympos>.
struct LivepatchFunc {
  std::string name;
  // Which of several same-named symbols in the object is patched; the kernel shows 1 for a
  // unique name.
  unsigned long sympos = 0;

  auto operator<=>(const LivepatchFunc&) const = default;
};

// A patched object: "vmlinux" or a module, directory /sys/kernel/livepatch/<patch>/<object>.
struct LivepatchObject {
  std::string name;
  // Whether the object is loaded and patched; absent on kernels without the 'patched' file.
  std::optional<bool> patched{};
  std::vector<LivepatchFunc> funcs{};  // sorted by name, then sympos
};

// A loaded livepatch module: directory /sys/kernel/livepatch/<patch>.
struct LivepatchPatch {
  std::string name;
  bool enabled = false;
  bool transition = false;
  // Both absent on kernels that lack the file (6.1 has neither).
  std::optional<bool> replace{};
  std::optional<int> stack_order{};
  std::vector<LivepatchObject> objects{};  // sorted by name
  // From the patch's module (/sys/module/<patch>/): MODULE_VERSION, and the CVEs that
  // lpmon build records as read-only parameters; absent for other patches.
  std::optional<std::string> version{};
  std::vector<std::string> cves{};
  std::vector<std::string> excluded_cves{};
  // What could not be read, one "<path>: <reason>" per problem. A field that could not be
  // read keeps its default, so a patch with errors must not be trusted.
  std::vector<std::string> errors{};
};

// Where the kernel shows livepatches and modules: /sys/kernel/livepatch, a patch's directory
// there (named after its module), and /sys/module/<module>.
std::filesystem::path livepatch_dir(const KernelPaths& paths);
std::filesystem::path patch_dir(const KernelPaths& paths, std::string_view patch);
std::filesystem::path module_dir(const KernelPaths& paths, std::string_view module);

// True when /sys/kernel/livepatch exists, i.e. the kernel was built with CONFIG_LIVEPATCH.
bool livepatch_supported(const KernelPaths& paths);

// Throws LivepatchUnsupportedError, naming the kernel release, when livepatch_supported() is
// false.
void require_livepatch(const KernelPaths& paths);

class PatchStructureCache;

// All patches under /sys/kernel/livepatch, sorted by name. A patch removed while it is being
// read is left out. Per-patch read problems go to LivepatchPatch::errors. Throws
// LivepatchUnsupportedError without livepatch support and KernelError when the livepatch
// directory itself cannot be listed. With a cache, what cannot change while a patch stays
// loaded is read once per loaded patch (see PatchStructureCache).
std::vector<LivepatchPatch> read_patches(const KernelPaths& paths,
                                         PatchStructureCache* cache = nullptr);

// For callers that read the patches over and over (the exporter, on every scrape): remembers
// what cannot change while a patch module stays loaded (its objects and functions, 'replace',
// its module's version and CVEs, which optional attributes the kernel shows), so a read
// re-reads only enabled, transition, stack_order and the objects' 'patched' flags.
// An entry is keyed by the patch directory's inode: sysfs never reuses one within a boot (on
// 64-bit kernels), so a patch removed and another loaded under the same name is read afresh.
// A patch is only remembered once its module is live (its init, which creates the sysfs tree,
// has returned) and read without error. Safe to share between threads.
class PatchStructureCache {
 public:
  PatchStructureCache();
  ~PatchStructureCache();
  PatchStructureCache(const PatchStructureCache&) = delete;
  PatchStructureCache& operator=(const PatchStructureCache&) = delete;

  struct Entries;

 private:
  friend std::vector<LivepatchPatch> read_patches(const KernelPaths&, PatchStructureCache*);
  std::unique_ptr<Entries> entries_;
};

// A patch's `transition` and `enabled` attributes, cheap enough to poll while following a
// transition. A disabled patch is freed (its directory goes) when its transition ends, so
// `gone` ends an unpatching transition; `unreadable` ends nothing: it is not a state.
struct PatchTransitionState {
  enum class Presence { present, gone, unreadable };
  Presence presence = Presence::unreadable;
  bool transition = false;
  bool enabled = false;
  std::string error;  // unreadable: the file and why
};
PatchTransitionState read_patch_transition(const KernelPaths& paths, std::string_view patch);

// The kernel's livepatch state as a whole, for gating decisions.
enum class LivepatchState {
  patched,        // at least one patch enabled, no transition running
  in_transition,  // some patch is still moving tasks to its target state
  unpatched,      // no patch enabled
  unknown,        // some patch could not be read completely
};

LivepatchState overall_state(const std::vector<LivepatchPatch>& patches);

// "patched", "in transition", "unpatched" or "unknown".
std::string_view to_string(LivepatchState state);

// Values of /proc/<pid>/patch_state.
inline constexpr int kTaskPatchIdle = -1;  // no transition is running
inline constexpr int kTaskUnpatched = 0;
inline constexpr int kTaskPatched = 1;

// The task's patch state, or nullopt when the task is gone, the kernel lacks the file or its
// content is not one of the values above.
std::optional<int> task_patch_state(const KernelPaths& paths, pid_t pid);

struct TaskPatchCensus {
  std::size_t idle = 0;
  std::size_t unpatched = 0;
  std::size_t patched = 0;
  std::vector<pid_t> not_at_target;  // ascending
};

// Counts the patch states of all processes in /proc and lists those whose state differs
// from target_state. Only /proc/<pid> is read, not the other threads in /proc/<pid>/task:
// enough to see whether a transition is stuck and on which processes. patch_state is readable
// by the task's owner only, so without root other users' tasks are not counted.
TaskPatchCensus census_task_patch_states(const KernelPaths& paths, int target_state);

// How far the patch in transition has got, from /proc/<pid>/patch_state.
struct TransitionProgress {
  std::string patch;
  int target_state = kTaskPatched;  // kTaskUnpatched while a patch is being disabled
  TaskPatchCensus tasks;
};

// The transition in progress among `patches` (klp runs one at a time), with a census of the
// tasks; nullopt when none is. Outside a transition every task is idle (-1), so the
// census, which reads a file per process, is only taken during one.
std::optional<TransitionProgress> transition_progress(const KernelPaths& paths,
                                                      const std::vector<LivepatchPatch>& patches);

// A task a transition waits for, as procfs shows it: why klp cannot switch it, in the terms
// klp uses (kernel/livepatch/transition.c, klp_check_and_switch_task).
struct PendingTask {
  pid_t pid = 0;
  std::string comm;
  char state = '?';                // as ps shows it: R, S, D, I, ...
  std::vector<std::string> stack;  // /proc/<pid>/stack's functions, innermost first (root only)
  // "running" (klp cannot check a running task's stack), "sleeping_in_function" (a function
  // the transition changes is on its stack: `function`), or "pending" (klp will check it
  // again at its next round).
  std::string reason;
  std::string function;
};

// Describes the tasks `pids` that the transition of `patch` waits for. A task that exits
// meanwhile is left out; a stack that cannot be read (not root) is left empty.
std::vector<PendingTask> describe_pending_tasks(const KernelPaths& paths,
                                                const LivepatchPatch& patch,
                                                const std::vector<pid_t>& pids);

}  // namespace lpmon
