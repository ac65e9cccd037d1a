#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lpmon/gate/gate_file.hpp"
#include "lpmon/gate/local_check.hpp"
#include "lpmon/gate/measurement.hpp"
#include "lpmon/gate/query.hpp"

namespace lpmon::gate {

// Time for the engine, injectable so that tests run a ten-minute gate without sleeping.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() = 0;  // schedules use this: it does not jump with NTP
  virtual void sleep_until(time_point when) = 0;
  virtual std::chrono::system_clock::time_point wall_now() = 0;  // for reports
};

class SystemClock final : public Clock {
 public:
  time_point now() override;
  void sleep_until(time_point when) override;
  std::chrono::system_clock::time_point wall_now() override;
};

struct Measurement {
  std::chrono::system_clock::time_point started_at;
  std::chrono::system_clock::time_point finished_at;
  Phase phase = Phase::error;
  std::vector<double> value;   // what the conditions saw as `result`
  std::vector<Series> series;  // a query's answer by series, to show which one failed
  std::string message;
};

struct CheckResult {
  const CheckSpec* spec = nullptr;  // into the GateFile given to run_gate
  Phase phase = Phase::skipped;
  bool finished = false;
  std::string message;  // why it ended so, e.g. "failed (2) > failureLimit (1)"
  // As in Argo: count is the measurements that got an answer (errors are retried and not
  // counted); consecutive_errors resets on every answer.
  int count = 0;
  int successful = 0;
  int failed = 0;
  int inconclusive = 0;
  int errors = 0;
  int consecutive_errors = 0;
  std::vector<Measurement> measurements;
};

struct GateReport {
  Phase verdict = Phase::inconclusive;  // successful, inconclusive, error or failed
  std::string message;                  // the deciding check and why
  std::string prometheus_error;         // set when Prometheus did not answer before any measurement
  std::chrono::system_clock::time_point started_at;
  std::chrono::system_clock::time_point finished_at;
  std::vector<CheckResult> checks;  // in the file's order
};

struct EngineOptions {
  std::optional<Duration> timeout;  // for the whole gate; unfinished checks are Errors
  Duration query_timeout{std::chrono::seconds(30)};
  Duration error_retry{
      std::chrono::seconds(10)};  // Argo's retry after an error, or interval if shorter
};

// Called after every measurement, with the check's state after counting it.
using Progress = std::function<void(const CheckResult&, const Measurement&)>;

// One query answer against a check's conditions, as Argo decides it, but for an empty answer:
// that is never a success. It is Failed when the failureCondition holds for it, else
// Inconclusive. A condition that cannot be evaluated (result[2] of two values) is an Error.
Evaluation evaluate_query_result(const PromQuery& query, const QueryResult& result);

// Runs the gate: each check `count` times, `interval` apart, after its `initialDelay`, all
// checks on their own schedules, in one thread. PromQL checks need `prometheus` and local
// checks `host`; without them they are skipped. Prometheus is asked once before any wait
// ("1"): when that fails every PromQL check is an Error at once, rather than after its delays.
// The gate ends as soon as a check fails, since nothing is worse; otherwise when all have
// ended. The verdict is the worst phase; with no check evaluated it is Inconclusive.
GateReport run_gate(const GateFile& gate, QueryBackend* prometheus, LocalSource* host, Clock& clock,
                    const EngineOptions& options, const Progress& progress = {});

}  // namespace lpmon::gate
