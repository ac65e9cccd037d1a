#include "apply/common.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "apply/progress_line.hpp"
#include "lpmon/util/text.hpp"
#include "option_values.hpp"

namespace lpmon::cli::rollout_command {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using rollout::Rollback;
using rollout::TransitionOutcome;

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

json transition_json(const TransitionOutcome& outcome, const std::string& followed_by) {
  json blockers = json::array();
  for (const auto& [pid, task] : outcome.blockers) {
    json entry{{"pid", pid}, {"comm", text::valid_utf8(task.comm)}, {"reason", task.reason}};
    if (!task.function.empty()) entry["function"] = task.function;
    blockers.push_back(entry);
  }
  json j{{"followed_by", followed_by},
         {"finished", outcome.finished},
         {"result", bpf::to_string(outcome.result)},
         {"duration_seconds", seconds(outcome.duration)},
         {"rounds", outcome.rounds},
         {"blocking_tasks", blockers}};
  if (!outcome.problem.empty()) j["problem"] = outcome.problem;
  if (outcome.notice_latency) j["notice_latency_seconds"] = seconds(*outcome.notice_latency);
  if (outcome.kernel_end) j["kernel_end_monotonic_ns"] = outcome.kernel_end->count();
  return j;
}

bool progress_rewrites_in_place() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) && term && *term && std::string_view(term) != "dumb";
}

rollout::Progress progress_on(const std::string& command, std::ostream& err) {
  rollout::Progress progress;
  progress.warning = [command, &err](const std::string& line) {
    err << "lpmon " << command << ": warning: " << line << '\n';
  };
  progress.note = [command, &err](const std::string& line) {
    err << "lpmon " << command << ": " << line << '\n';
  };
  progress.patch_note = [&err](const std::string& patch, const std::string& line) {
    err << "lpmon: " << patch << ": " << line << '\n';
  };
  progress.transition = ProgressLine(err, progress_rewrites_in_place());
  return progress;
}

json rollback_json(const Rollback& rollback, const std::string& followed_by) {
  json j{{"started", rollback.started}, {"unloaded", rollback.unloaded}};
  if (rollback.transition) j["transition"] = transition_json(*rollback.transition, followed_by);
  if (!rollback.left.empty()) j["left"] = rollback.left;
  return j;
}

void add_duration_option(CLI::App& command, gate::Duration& value, const std::string& help) {
  command
      .add_option_function<std::string>(
          "--timeout",
          [&value](const std::string& text) {
            const std::optional<gate::Duration> parsed = positive_duration(text);
            if (!parsed) {
              throw CLI::ValidationError("--timeout", "'" + text +
                                                          "' is not a positive duration like 30s "
                                                          "or 2m");
            }
            value = *parsed;
          },
          help)
      ->type_name("DURATION");
}

void add_transaction_options(CLI::App& command, rollout::StatePaths& state, bool& wait,
                             bool& transaction) {
  command
      .add_flag_callback(
          "--no-wait", [&wait] { wait = false; },
          "When another lpmon apply or revert is running, exit with code 15 instead of waiting "
          "for it")
      ->group("Transaction");
  command
      .add_option("--run-dir", state.run_dir,
                  "Where the lock of apply and revert is (default /run/lpmon)")
      ->type_name("DIR")
      ->group("Transaction");
  command
      .add_option("--state-dir", state.state_dir,
                  "Where the journal of an unfinished run is (default /var/lib/lpmon; the file "
                  "journal)")
      ->type_name("DIR")
      ->group("Transaction");
  const char* bench = std::getenv("LPMON_BENCH_NO_TRANSACTION");
  transaction = !(bench && std::string_view(bench) == "1");
}

}  // namespace lpmon::cli::rollout_command
