#include "lpmon/livepatch_state.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <system_error>

#include "kernel_file.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/kernel_info.hpp"

namespace lpmon {
namespace fs = std::filesystem;
namespace {

std::string problem(const fs::path& path, std::string_view reason) {
  return path.string() + ": " + std::string(reason);
}

// Subdirectories of dir, sorted. Entries that vanish between readdir and stat are skipped:
// sysfs removes patches and objects at any time.
std::vector<fs::path> subdirectories(const fs::path& dir, std::error_code& error) {
  std::vector<fs::path> found;
  fs::directory_iterator it(dir, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    std::error_code stat_error;
    if (it->is_directory(stat_error)) found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

enum class Attribute { required, optional };

// The attribute's text; nullopt when an optional attribute is missing (older kernels) or when
// it cannot be read, which is recorded in errors.
std::optional<std::string> read_attribute(const fs::path& file, Attribute kind,
                                          std::vector<std::string>& errors) {
  detail::FileText content = detail::read_kernel_file(file);
  if (content.error == ENOENT && kind == Attribute::optional) return std::nullopt;
  if (content.error != 0) {
    errors.push_back(problem(file, detail::errno_message(content.error)));
    return std::nullopt;
  }
  return std::move(content.text);
}

std::optional<bool> read_flag(const fs::path& file, Attribute kind,
                              std::vector<std::string>& errors) {
  const auto text = read_attribute(file, kind, errors);
  if (!text) return std::nullopt;
  if (*text == "0" || *text == "1") return *text == "1";
  errors.push_back(problem(file, "invalid value \"" + *text + "\" (expected 0 or 1)"));
  return std::nullopt;
}

std::optional<int> read_int(const fs::path& file, Attribute kind,
                            std::vector<std::string>& errors) {
  const auto text = read_attribute(file, kind, errors);
  if (!text) return std::nullopt;
  const auto value = detail::parse_integer<int>(*text);
  if (!value) {
    errors.push_back(problem(file, "invalid value \"" + *text + "\" (expected an integer)"));
  }
  return value;
}

// "<function>,<sympos>"; function names cannot contain a comma, so split at the last one.
std::optional<LivepatchFunc> parse_func_dir_name(std::string_view name) {
  const auto comma = name.rfind(',');
  if (comma == std::string_view::npos || comma == 0) return std::nullopt;
  const auto sympos = detail::parse_integer<unsigned long>(name.substr(comma + 1));
  if (!sympos) return std::nullopt;
  return LivepatchFunc{.name = std::string(name.substr(0, comma)), .sympos = *sympos};
}

std::vector<LivepatchFunc> read_funcs(const fs::path& object_dir,
                                      std::vector<std::string>& errors) {
  std::vector<LivepatchFunc> funcs;
  std::error_code list_error;
  for (const fs::path& func_dir : subdirectories(object_dir, list_error)) {
    const auto func = parse_func_dir_name(func_dir.filename().string());
    if (func) {
      funcs.push_back(*func);
    } else {
      errors.push_back(
          problem(func_dir, "not a function directory (expected <function>,<sympos>)"));
    }
  }
  if (list_error) errors.push_back(problem(object_dir, list_error.message()));
  std::sort(funcs.begin(), funcs.end());
  return funcs;
}

std::vector<std::string> split_list(const std::optional<std::string>& text) {
  std::vector<std::string> items;
  if (!text) return items;
  std::size_t start = 0;
  while (start <= text->size()) {
    const std::size_t end = std::min(text->find(',', start), text->size());
    if (end > start) items.push_back(text->substr(start, end - start));
    start = end + 1;
  }
  return items;
}

// What does not change while the patch's module stays loaded: klp builds the whole sysfs tree
// in klp_init_patch(), 'replace' and the module's parameters are read-only.
void read_structure(const fs::path& dir, const fs::path& module_dir, LivepatchPatch& patch) {
  // A patch is named after its module; lpmon build's metadata is there.
  patch.version = read_attribute(module_dir / "version", Attribute::optional, patch.errors);
  patch.cves =
      split_list(read_attribute(module_dir / "parameters/cves", Attribute::optional, patch.errors));
  patch.excluded_cves = split_list(
      read_attribute(module_dir / "parameters/excluded_cves", Attribute::optional, patch.errors));
  patch.replace = read_flag(dir / "replace", Attribute::optional, patch.errors);

  std::error_code list_error;
  for (const fs::path& object_dir : subdirectories(dir, list_error)) {
    patch.objects.push_back(LivepatchObject{.name = object_dir.filename().string(),
                                            .funcs = read_funcs(object_dir, patch.errors)});
  }
  if (list_error) patch.errors.push_back(problem(dir, list_error.message()));
}

// Which optional attributes the kernel shows, learnt from the first read of a patch.
struct Shown {
  bool stack_order = true;
  bool patched = true;
};

// What changes while the patch is loaded: enabled and transition, stack_order (when a patch
// below is removed) and 'patched' (when a target module comes or goes).
void read_state(const fs::path& dir, const Shown& shown, LivepatchPatch& patch) {
  patch.enabled = read_flag(dir / "enabled", Attribute::required, patch.errors).value_or(false);
  patch.transition =
      read_flag(dir / "transition", Attribute::required, patch.errors).value_or(false);
  if (shown.stack_order) {
    patch.stack_order = read_int(dir / "stack_order", Attribute::optional, patch.errors);
  }
  if (!shown.patched) return;
  for (LivepatchObject& object : patch.objects) {
    object.patched = read_flag(dir / object.name / "patched", Attribute::optional, patch.errors);
  }
}

// A directory for as long as it exists: kernfs numbers inodes from a 32-bit cyclic id plus a
// generation, never reused within a boot on 64-bit kernels (6.1 fs/kernfs/dir.c).
struct DirIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const DirIdentity&) const = default;
};

// nullopt when dir is gone.
std::optional<DirIdentity> dir_identity(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return DirIdentity{st.st_dev, st.st_ino};
}

// The module's init, which builds the patch's sysfs tree, has returned; before that the tree
// may still be growing.
bool module_live(const fs::path& module_dir) {
  return detail::read_kernel_file(module_dir / "initstate").text == "live";
}

}  // namespace

struct PatchStructureCache::Entries {
  struct Entry {
    DirIdentity identity;
    LivepatchPatch structure;  // its state fields are read afresh each time
    Shown shown;
  };
  std::mutex mutex;
  std::map<std::string, Entry, std::less<>> by_patch;
};

PatchStructureCache::PatchStructureCache() : entries_(std::make_unique<Entries>()) {}
PatchStructureCache::~PatchStructureCache() = default;

namespace {

// nullopt when the patch disappeared while being read: its module was disabled and removed,
// which is normal, and whatever was read from it is meaningless.
std::optional<LivepatchPatch> read_patch(const fs::path& dir, const fs::path& module_dir,
                                         PatchStructureCache::Entries* cache) {
  const std::string name = dir.filename().string();
  const auto identity = dir_identity(dir);
  if (!identity) return std::nullopt;

  std::optional<PatchStructureCache::Entries::Entry> known;
  if (cache != nullptr) {
    std::lock_guard lock(cache->mutex);
    const auto it = cache->by_patch.find(name);
    if (it != cache->by_patch.end() && it->second.identity == *identity) known = it->second;
  }

  LivepatchPatch patch;
  Shown shown;
  // Checked before the tree is listed, so that a live module means a complete listing.
  const bool cacheable = !known && cache != nullptr && module_live(module_dir);
  if (known) {
    patch = std::move(known->structure);
    shown = known->shown;
  } else {
    patch.name = name;
    read_structure(dir, module_dir, patch);
  }
  read_state(dir, shown, patch);

  // Gone, or replaced by another patch of the same name, while being read.
  if (dir_identity(dir) != identity) return std::nullopt;
  if (cacheable && patch.errors.empty()) {
    // Without errors, an optional attribute that was not read is one the kernel lacks.
    shown.stack_order = patch.stack_order.has_value();
    shown.patched =
        std::any_of(patch.objects.begin(), patch.objects.end(),
                    [](const LivepatchObject& object) { return object.patched.has_value(); });
    PatchStructureCache::Entries::Entry entry{*identity, patch, shown};
    std::lock_guard lock(cache->mutex);
    cache->by_patch.insert_or_assign(name, std::move(entry));
  }
  return patch;
}

}  // namespace

fs::path livepatch_dir(const KernelPaths& paths) {
  return paths.sysfs / "kernel" / "livepatch";
}

fs::path patch_dir(const KernelPaths& paths, std::string_view patch) {
  return livepatch_dir(paths) / patch;
}

fs::path module_dir(const KernelPaths& paths, std::string_view module) {
  return paths.sysfs / "module" / module;
}

PatchTransitionState read_patch_transition(const KernelPaths& paths, std::string_view patch) {
  using Presence = PatchTransitionState::Presence;
  PatchTransitionState state;
  const fs::path dir = patch_dir(paths, patch);
  // Returns false and fills `state` when `name` does not hold "0" or "1".
  auto read_flag = [&](const char* name, bool& value) {
    const detail::FileText file = detail::read_kernel_file(dir / name);
    std::error_code ignored;
    if (file.error == ENOENT && !fs::exists(dir, ignored)) {
      state.presence = Presence::gone;
      return false;
    }
    if (file.error != 0 || (file.text != "0" && file.text != "1")) {
      state.presence = Presence::unreadable;
      state.error = "cannot read " + (dir / name).string() + ": " +
                    (file.error ? detail::errno_message(file.error)
                                : "unexpected content '" + file.text.substr(0, 16) + "'");
      return false;
    }
    value = file.text == "1";
    return true;
  };
  if (read_flag("transition", state.transition) && read_flag("enabled", state.enabled)) {
    state.presence = Presence::present;
  }
  return state;
}

bool livepatch_supported(const KernelPaths& paths) {
  std::error_code ignored;
  return fs::is_directory(livepatch_dir(paths), ignored);
}

void require_livepatch(const KernelPaths& paths) {
  if (livepatch_supported(paths)) return;
  std::string release;
  try {
    release = kernel_release(paths);
  } catch (const KernelError&) {
    release = "release unknown";
  }
  throw LivepatchUnsupportedError("this kernel (" + release +
                                  ") has no livepatch support: CONFIG_LIVEPATCH is off (no " +
                                  livepatch_dir(paths).string() + ")");
}

std::vector<LivepatchPatch> read_patches(const KernelPaths& paths, PatchStructureCache* cache) {
  require_livepatch(paths);
  const fs::path dir = livepatch_dir(paths);
  std::error_code list_error;
  const std::vector<fs::path> patch_dirs = subdirectories(dir, list_error);
  if (list_error) {
    throw KernelError("cannot list livepatches in " + dir.string() + ": " + list_error.message() +
                      "; check that sysfs is mounted at " + paths.sysfs.string() + " and readable");
  }

  PatchStructureCache::Entries* entries = cache != nullptr ? cache->entries_.get() : nullptr;
  if (entries != nullptr) {
    // Patches no longer listed are forgotten.
    std::lock_guard lock(entries->mutex);
    std::erase_if(entries->by_patch, [&](const auto& entry) {
      return !std::binary_search(patch_dirs.begin(), patch_dirs.end(), dir / entry.first);
    });
  }

  std::vector<LivepatchPatch> patches;
  for (const fs::path& patch_dir : patch_dirs) {
    const fs::path patch_module = module_dir(paths, patch_dir.filename().string());
    if (auto patch = read_patch(patch_dir, patch_module, entries)) {
      patches.push_back(std::move(*patch));
    }
  }
  return patches;
}

LivepatchState overall_state(const std::vector<LivepatchPatch>& patches) {
  const auto any = [&](auto predicate) {
    return std::any_of(patches.begin(), patches.end(), predicate);
  };
  if (any([](const LivepatchPatch& patch) { return !patch.errors.empty(); })) {
    return LivepatchState::unknown;
  }
  if (any([](const LivepatchPatch& patch) { return patch.transition; })) {
    return LivepatchState::in_transition;
  }
  if (any([](const LivepatchPatch& patch) { return patch.enabled; })) {
    return LivepatchState::patched;
  }
  return LivepatchState::unpatched;
}

std::string_view to_string(LivepatchState state) {
  switch (state) {
    case LivepatchState::patched:
      return "patched";
    case LivepatchState::in_transition:
      return "in transition";
    case LivepatchState::unpatched:
      return "unpatched";
    case LivepatchState::unknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<int> task_patch_state(const KernelPaths& paths, pid_t pid) {
  const detail::FileText content =
      detail::read_kernel_file(paths.procfs / std::to_string(pid) / "patch_state");
  if (content.error != 0) return std::nullopt;
  const auto state = detail::parse_integer<int>(content.text);
  if (!state || *state < kTaskPatchIdle || *state > kTaskPatched) return std::nullopt;
  return state;
}

TaskPatchCensus census_task_patch_states(const KernelPaths& paths, int target_state) {
  TaskPatchCensus census;
  std::error_code error;
  for (fs::directory_iterator it(paths.procfs, error); !error && it != fs::directory_iterator();
       it.increment(error)) {
    const auto pid = detail::parse_integer<pid_t>(it->path().filename().string());
    if (!pid) continue;
    const auto state = task_patch_state(paths, *pid);
    if (!state) continue;
    switch (*state) {
      case kTaskPatchIdle:
        ++census.idle;
        break;
      case kTaskUnpatched:
        ++census.unpatched;
        break;
      case kTaskPatched:
        ++census.patched;
        break;
    }
    if (*state != target_state) census.not_at_target.push_back(*pid);
  }
  std::sort(census.not_at_target.begin(), census.not_at_target.end());
  return census;
}

std::optional<TransitionProgress> transition_progress(const KernelPaths& paths,
                                                      const std::vector<LivepatchPatch>& patches) {
  const auto moving = std::find_if(patches.begin(), patches.end(),
                                   [](const LivepatchPatch& patch) { return patch.transition; });
  if (moving == patches.end()) return std::nullopt;
  // The kernel flips 'enabled' when a transition starts, so it names the target state.
  const int target = moving->enabled ? kTaskPatched : kTaskUnpatched;
  return TransitionProgress{
      .patch = moving->name,
      .target_state = target,
      .tasks = census_task_patch_states(paths, target),
  };
}

std::vector<PendingTask> describe_pending_tasks(const KernelPaths& paths,
                                                const LivepatchPatch& patch,
                                                const std::vector<pid_t>& pids) {
  std::set<std::string> changed;
  for (const LivepatchObject& object : patch.objects) {
    for (const LivepatchFunc& func : object.funcs) changed.insert(func.name);
  }
  std::vector<PendingTask> tasks;
  for (pid_t pid : pids) {
    const fs::path dir = paths.procfs / std::to_string(pid);
    const detail::FileText stat = detail::read_kernel_file(dir / "stat");
    if (stat.error != 0) continue;  // gone
    PendingTask task;
    task.pid = pid;
    // "pid (comm) S ...": comm may hold spaces and parentheses; the last ')' ends it.
    const auto open = stat.text.find('(');
    const auto close = stat.text.rfind(')');
    if (open != std::string::npos && close != std::string::npos && close > open) {
      task.comm = stat.text.substr(open + 1, close - open - 1);
      if (close + 2 < stat.text.size()) task.state = stat.text[close + 2];
    }
    // "[<0>] lpmon_target_wait_released+0x4d/0x90 [lpmon_target]"
    std::istringstream stack(detail::read_kernel_file(dir / "stack").text);
    for (std::string line; std::getline(stack, line);) {
      const auto start = line.find("] ");
      if (start == std::string::npos) continue;
      std::string function = line.substr(start + 2);
      function = function.substr(0, function.find_first_of("+ "));
      if (task.function.empty() && changed.count(function)) task.function = function;
      task.stack.push_back(std::move(function));
    }
    task.reason = !task.function.empty() ? "sleeping_in_function"
                  : task.state == 'R'    ? "running"
                                         : "pending";
    tasks.push_back(std::move(task));
  }
  return tasks;
}

}  // namespace lpmon
