#include "lpmon/rollout/recovery.hpp"

#include <filesystem>

#include "lpmon/livepatch_state.hpp"
#include "lpmon/patch_control.hpp"
#include "lpmon/rollout/rollback.hpp"

namespace lpmon::rollout {

namespace fs = std::filesystem;

RunState run_state(const StatePaths& paths) {
  RunState state;
  state.lock_holder = lock_holder(paths);
  auto read = Journal(paths.journal_file()).read();
  if (auto* error = std::get_if<Error>(&read)) {
    state.problem = error->message;
    return state;
  }
  auto& entry = std::get<std::optional<JournalEntry>>(read);
  if (!entry) return state;
  // The lock goes with its holder: held, the journal is the live run's; free, nobody is
  // finishing the run it records.
  if (state.lock_holder) {
    state.running = entry;
  } else {
    state.unfinished = entry;
  }
  return state;
}

std::string describe(const JournalEntry& entry) {
  return "lpmon " + entry.command + " of " + entry.patch + " (pid " + std::to_string(entry.pid) +
         ", started " + entry.started + ") stopped at its step '" + entry.step + "'";
}

std::variant<std::optional<std::string>, Error> converge(const StatePaths& state,
                                                         const KernelPaths& paths,
                                                         gate::Duration timeout,
                                                         const std::filesystem::path& audit_log,
                                                         const Progress& progress) {
  const Journal journal(state.journal_file());
  auto read = journal.read();
  if (auto* error = std::get_if<Error>(&read)) return *error;
  const std::optional<JournalEntry> found = std::get<std::optional<JournalEntry>>(read);
  if (!found) return std::optional<std::string>();
  JournalEntry entry = *found;
  AuditLog audit(audit_log, "recover");
  const std::string what = describe(entry);
  const auto done = [&](const std::string& how) -> std::variant<std::optional<std::string>, Error> {
    audit.record(
        "recover",
        {{"run", entry.command}, {"patch", entry.patch}, {"step", entry.step}, {"done", how}});
    if (auto error = journal.clear()) return *error;
    return std::optional<std::string>(what + ": " + how);
  };

  const bool active = fs::exists(patch_dir(paths, entry.patch));
  const bool loaded = module_loaded(paths, entry.patch);
  if (!active && !loaded) return done("nothing of it is left in the kernel");
  const std::optional<std::string> build = module_srcversion(paths, entry.patch);
  if (!entry.srcversion.empty() && build && *build != entry.srcversion) {
    return done("the loaded " + entry.patch + " is another build (srcversion " + *build +
                ", the run's " + entry.srcversion + "), left as it is");
  }
  if (entry.command == "apply" && entry.was_enabled) {
    return done(entry.patch + " was enabled before that run, left as it is");
  }
  if (progress.note) {
    progress.note("finishing an interrupted run: " + what + "; " +
                  (entry.command == "apply" ? "rolling it back" : "completing the revert"));
  }
  TransitionFollower follower(paths, progress.transition);
  const auto record = [&](const std::string& step) {
    entry.step = step;
    return journal.write(entry);
  };
  Rollback rollback;
  if (active) {
    std::function<void(const std::string&)> note;
    if (progress.patch_note) {
      note = [&](const std::string& line) { progress.patch_note(entry.patch, line); };
    }
    rollback = roll_back(paths, entry.patch, follower, timeout, audit, note, record);
  } else if (auto error = record("unload")) {
    rollback.left = error->message;
  } else if (auto problem = unload_when_released(paths, entry.patch)) {
    rollback.left = *problem;
  }
  if (!rollback.left.empty()) {
    record("rollback-incomplete");
    return Error{ExitCode::rollback_incomplete, "an interrupted run could not be converged (" +
                                                    what + "): " + rollback.left +
                                                    "; nothing else was done"};
  }
  return done(entry.command == "apply" ? "rolled back: " + entry.patch + " reversed and unloaded"
                                       : "revert completed: " + entry.patch + " unloaded");
}

}  // namespace lpmon::rollout
