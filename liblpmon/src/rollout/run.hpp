// One run of apply or revert as a transaction: the lock, the signal guard, the convergence of
// an interrupted run, and the journal of its steps.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "lpmon/errors.hpp"
#include "lpmon/gate/duration.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/rollout/error.hpp"
#include "lpmon/rollout/progress.hpp"
#include "lpmon/rollout/transaction.hpp"

namespace lpmon::rollout::detail {

class Run {
 public:
  struct Options {
    StatePaths state;
    bool transaction = true;  // lock and journal
    bool wait = true;
    KernelPaths paths;
    gate::Duration timeout{};
    std::filesystem::path audit_log;
  };
  // Takes the lock (waiting for it, or not), catches signals from then on, and converges an
  // interrupted run found in the journal; `recovered` says what that did.
  static std::variant<std::unique_ptr<Run>, Error> begin(const Options& options,
                                                         const Progress& progress,
                                                         std::string& recovered);

  // The run's record: set once the patch is known, before the first step.
  void describe(JournalEntry entry) { entry_ = std::move(entry); }
  // Records the step about to be taken, synced; an Error means it must not be taken.
  std::optional<Error> step(const std::string& step);
  // The run ended with the host as it decided: its record goes.
  std::optional<Error> end();
  // The signal caught (SIGINT, SIGTERM, SIGHUP), 0 when none.
  static int interrupted() { return SignalGuard::caught(); }

 private:
  Run(std::optional<RunLock> lock, Journal journal, bool on)
      : lock_(std::move(lock)), journal_(std::move(journal)), on_(on) {}
  std::optional<RunLock> lock_;
  SignalGuard guard_;
  Journal journal_;
  bool on_;
  bool written_ = false;
  JournalEntry entry_;
};

// The run's options from an apply or revert request (both carry the same fields).
template <class Request>
Run::Options run_options(const Request& request) {
  return {.state = request.state,
          .transaction = request.transaction,
          .wait = request.wait,
          .paths = request.paths,
          .timeout = request.timeout,
          .audit_log = request.audit_log};
}

// Runs apply's or revert's steps; what throws becomes the outcome's error, so callers get one
// result type whatever failed (a kernel read that failed as a whole names what it read).
template <class Outcome, class Steps>
Outcome guarded(Steps&& steps) {
  try {
    return steps();
  } catch (const LivepatchUnsupportedError& error) {
    Outcome failed;
    failed.error = Error{ExitCode::no_livepatch, error.what()};
    return failed;
  } catch (const std::exception& error) {
    Outcome failed;
    failed.error = Error{ExitCode::runtime_error, error.what()};
    return failed;
  }
}

}  // namespace lpmon::rollout::detail
