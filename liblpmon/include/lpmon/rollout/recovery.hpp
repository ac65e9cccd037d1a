// A run of apply or revert that did not end (killed, crashed, the host went down) is known from
// its journal; the next run converges it before its own work, and lpmon status reports it.
#pragma once

#include <sys/types.h>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>

#include "lpmon/gate/duration.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/rollout/audit_log.hpp"
#include "lpmon/rollout/error.hpp"
#include "lpmon/rollout/progress.hpp"
#include "lpmon/rollout/transaction.hpp"

namespace lpmon::rollout {

// What the journal and the lock say about runs, for lpmon status.
struct RunState {
  std::optional<JournalEntry> unfinished;  // the journal's run, when no run holds the lock
  std::optional<JournalEntry> running;     // the journal's run, while its run holds the lock
  std::optional<pid_t> lock_holder;        // a run holding the lock (0: pid unknown)
  std::string problem;                     // the journal could not be read
};
RunState run_state(const StatePaths& paths);

// "lpmon apply of lpmon_fixes_v2 (pid 123, started ...) stopped before its step 'load'".
std::string describe(const JournalEntry& entry);

// Converges the unfinished run in the journal, with the lock held: the patch it was applying
// is rolled back (it never passed its gate), the one it was reverting is reverted; a patch
// of that name but of another build is not touched. Returns what was done (nullopt when the
// journal is empty), or an Error when the host could not be converged; the journal then stays.
std::variant<std::optional<std::string>, Error> converge(const StatePaths& state,
                                                         const KernelPaths& paths,
                                                         gate::Duration timeout,
                                                         const std::filesystem::path& audit_log,
                                                         const Progress& progress);

}  // namespace lpmon::rollout
