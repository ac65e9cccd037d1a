#include "run.hpp"

#include <unistd.h>

#include "lpmon/rollout/recovery.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::rollout::detail {

std::variant<std::unique_ptr<Run>, Error> Run::begin(const Options& options,
                                                     const Progress& progress,
                                                     std::string& recovered) {
  std::optional<RunLock> lock;
  if (options.transaction) {
    auto taken = RunLock::acquire(options.state, options.wait, progress.note);
    if (auto* error = std::get_if<Error>(&taken)) return *error;
    lock.emplace(std::move(std::get<RunLock>(taken)));
  }
  std::unique_ptr<Run> run(
      new Run(std::move(lock), Journal(options.state.journal_file()), options.transaction));
  if (!options.transaction) return run;
  auto converged =
      converge(options.state, options.paths, options.timeout, options.audit_log, progress);
  if (auto* error = std::get_if<Error>(&converged)) return *error;
  if (auto& done = std::get<std::optional<std::string>>(converged)) {
    recovered = *done;
    if (progress.note) progress.note("interrupted run found in the journal: " + *done);
  }
  return run;
}

std::optional<Error> Run::step(const std::string& step) {
  if (!on_) return std::nullopt;
  if (entry_.started.empty()) {
    entry_.pid = ::getpid();
    entry_.started = utc_timestamp(std::chrono::system_clock::now(), 0);
  }
  entry_.step = step;
  written_ = true;
  return journal_.write(entry_);
}

std::optional<Error> Run::end() {
  if (!on_ || !written_) return std::nullopt;
  return journal_.clear();
}

}  // namespace lpmon::rollout::detail
