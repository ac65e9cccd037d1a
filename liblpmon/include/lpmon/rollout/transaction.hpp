// What makes apply and revert a transaction: one run at a time (a lock), a write-ahead journal
// of the kernel writes, and signals that end a run cleanly instead of halfway.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "lpmon/rollout/error.hpp"

namespace lpmon::rollout {

// Where a run keeps its lock (volatile: gone at boot, as the runs are) and its journal
// (persistent: a run cut short by a crash is still known after the reboot).
struct StatePaths {
  std::filesystem::path run_dir = "/run/lpmon";
  std::filesystem::path state_dir = "/var/lib/lpmon";
  std::filesystem::path lock_file() const { return run_dir / "lock"; }
  std::filesystem::path journal_file() const { return state_dir / "journal"; }
};

// The exclusive lock of apply and revert (flock on StatePaths::lock_file): the kernel lets go of
// it when the holder exits, however it exits, so a killed run never leaves it behind.
class RunLock {
 public:
  // Takes the lock. When another run holds it: with `wait`, tells `waiting` once and blocks
  // until it is free; without, an Error (ExitCode::locked).
  static std::variant<RunLock, Error> acquire(
      const StatePaths& paths, bool wait, const std::function<void(const std::string&)>& waiting);
  RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  RunLock& operator=(RunLock&&) = delete;
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

// The pid of the run holding the lock, or nullopt when no run does (or there is no lock file).
std::optional<pid_t> lock_holder(const StatePaths& paths);

// One run's record: which patch, which build, what the host had before, and the step about to
// be taken. It is on disk (file and directory synced) before each kernel write it names.
struct JournalEntry {
  std::string command;  // apply or revert
  pid_t pid = 0;
  std::string started;  // UTC, ISO 8601
  std::string patch;
  std::string module;        // the module file, for apply
  std::string srcversion;    // the build applied (apply) or found loaded (revert); may be empty
  bool was_enabled = false;  // the patch was enabled before the run
  bool was_loaded = false;   // its module was loaded before the run
  // load, force, gate, disable, unload: the kernel write (or the gate) about to happen;
  // rollback-incomplete when the run ended with the patch half undone.
  std::string step;
};

// The journal file: written whole (a new file renamed over the old) and synced, so that a
// crash leaves either the previous entry or the new one.
class Journal {
 public:
  explicit Journal(std::filesystem::path file) : file_(std::move(file)) {}

  // The entry of an unfinished run, nullopt when there is none, or an Error when the file
  // cannot be read or makes no sense (it is left as it is).
  std::variant<std::optional<JournalEntry>, Error> read() const;
  // Records `entry`, synced to disk; an Error when it cannot (then nothing may be written to
  // the kernel).
  std::optional<Error> write(const JournalEntry& entry) const;
  // Removes the record of a run that ended cleanly, synced.
  std::optional<Error> clear() const;

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
};

// SIGINT, SIGTERM and SIGHUP, caught while it lives: the run sees them between steps and ends
// cleanly (rolls back or finishes) instead of dying halfway. The previous handlers come back
// when it goes.
class SignalGuard {
 public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  // The signal caught, 0 when none.
  static int caught();
  // "SIGTERM" etc.
  static std::string name(int signal);

 private:
  struct sigaction old_[3];
};

}  // namespace lpmon::rollout
