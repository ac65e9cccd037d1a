// What lpmon apply and lpmon revert share: the JSON of a followed transition and of a
// rollback, the engine's notes on stderr, the progress line's mode, --timeout.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "lpmon/gate/duration.hpp"
#include "lpmon/rollout/progress.hpp"
#include "lpmon/rollout/rollback.hpp"
#include "lpmon/rollout/transaction.hpp"
#include "lpmon/rollout/transition_follower.hpp"

namespace lpmon::cli::rollout_command {

double seconds(std::chrono::nanoseconds d);

// `followed_by` is TransitionFollower::method().
nlohmann::json transition_json(const rollout::TransitionOutcome& outcome,
                               const std::string& followed_by);
nlohmann::json rollback_json(const rollout::Rollback& rollback, const std::string& followed_by);

// The engine's notes and progress as lines on `err`: "lpmon COMMAND: warning: ...",
// "lpmon COMMAND: ...", "lpmon: PATCH: ..." and the progress line.
rollout::Progress progress_on(const std::string& command, std::ostream& err);

// A progress line is redrawn in place on a terminal that can; logs and serial consoles get
// a line per change instead.
bool progress_rewrites_in_place();

// --timeout DURATION, a positive gate duration ("30s", "2m").
void add_duration_option(CLI::App& command, gate::Duration& value, const std::string& help);

// --no-wait, and --run-dir and --state-dir (where the lock and the journal are, for tests).
// LPMON_BENCH_NO_TRANSACTION=1 in the environment leaves the lock and the journal out, only so
// that BENCHMARKS.md can measure what they cost.
void add_transaction_options(CLI::App& command, rollout::StatePaths& state, bool& wait,
                             bool& transaction);

}  // namespace lpmon::cli::rollout_command
