#include "lpmon/gate/engine.hpp"

#include <algorithm>
#include <thread>

namespace lpmon::gate {
namespace {

struct CheckState {
  CheckResult result;
  Clock::time_point due;
};

std::string limit_message(const char* what, int value, const char* limit_name, int limit) {
  return std::string(what) + " (" + std::to_string(value) + ") > " + limit_name + " (" +
         std::to_string(limit) + ")";
}

void finish(CheckResult& result, Phase phase, std::string message) {
  result.phase = phase;
  result.finished = true;
  result.message = std::move(message);
}

// Counts a measurement and decides the check as Argo's assessMetricStatus does.
void count(CheckResult& r, const Measurement& m) {
  const CheckSpec& spec = *r.spec;
  switch (m.phase) {
    case Phase::successful:
      ++r.successful;
      break;
    case Phase::failed:
      ++r.failed;
      break;
    case Phase::inconclusive:
      ++r.inconclusive;
      break;
    default:
      ++r.errors;
      ++r.consecutive_errors;
      break;
  }
  if (m.phase != Phase::error) {
    ++r.count;
    r.consecutive_errors = 0;
  }
  r.phase = m.phase;
  if (spec.failure_limit >= 0 && r.failed > spec.failure_limit) {
    finish(r, Phase::failed, limit_message("failed", r.failed, "failureLimit", spec.failure_limit));
  } else if (spec.inconclusive_limit >= 0 && r.inconclusive > spec.inconclusive_limit) {
    finish(r, Phase::inconclusive,
           limit_message("inconclusive", r.inconclusive, "inconclusiveLimit",
                         spec.inconclusive_limit));
  } else if (r.consecutive_errors > spec.consecutive_error_limit) {
    finish(r, Phase::error,
           limit_message("consecutiveErrors", r.consecutive_errors, "consecutiveErrorLimit",
                         spec.consecutive_error_limit) +
               ": " + m.message);
  } else if (r.count >= spec.count) {
    // Limits of -1 could let a check through on nothing but misses; a check that never
    // succeeded is not a success.
    if (r.successful == 0) {
      finish(r, Phase::inconclusive, "no measurement was successful");
    } else {
      finish(r, Phase::successful,
             std::to_string(r.successful) + " of " + std::to_string(r.count) + " successful");
    }
  }
}

}  // namespace

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::successful:
      return "Successful";
    case Phase::inconclusive:
      return "Inconclusive";
    case Phase::error:
      return "Error";
    case Phase::failed:
      return "Failed";
    case Phase::skipped:
      return "Skipped";
    case Phase::terminated:
      return "Terminated";
  }
  return "?";
}

Clock::time_point SystemClock::now() {
  return std::chrono::steady_clock::now();
}

void SystemClock::sleep_until(time_point when) {
  std::this_thread::sleep_until(when);
}

std::chrono::system_clock::time_point SystemClock::wall_now() {
  return std::chrono::system_clock::now();
}

Evaluation evaluate_query_result(const PromQuery& query, const QueryResult& answer) {
  const std::vector<double> values = answer.values();
  const auto& success = query.success_condition;
  const auto& failure = query.failure_condition;
  if (values.empty()) {
    if (failure) {
      try {
        if (failure->evaluate(values)) {
          return {Phase::failed, values, "empty result, and failureCondition holds"};
        }
      } catch (const EvaluationError&) {
        // e.g. result[0] > 5: says nothing about an empty result
      }
    }
    return {Phase::inconclusive, values, "empty result: the query matched no series"};
  }
  bool succeeded = false;
  bool failed = false;
  try {
    if (success) succeeded = success->evaluate(values);
    if (failure) failed = failure->evaluate(values);
  } catch (const EvaluationError& e) {
    return {Phase::error, values, std::string("cannot evaluate the condition: ") + e.what()};
  }
  if (!success && !failure) return {Phase::successful, values, ""};
  if (success && !failure) failed = !succeeded;
  if (!success && failure) succeeded = !failed;
  if (failed) {
    return {Phase::failed, values,
            failure ? "failureCondition holds: " + failure->source()
                    : "successCondition does not hold: " + success->source()};
  }
  if (!succeeded) {
    return {Phase::inconclusive, values, "neither successCondition nor failureCondition holds"};
  }
  return {Phase::successful, values, ""};
}

GateReport run_gate(const GateFile& gate, QueryBackend* prometheus, LocalSource* host, Clock& clock,
                    const EngineOptions& options, const Progress& progress) {
  GateReport report;
  report.started_at = clock.wall_now();
  const Clock::time_point start = clock.now();
  std::optional<Clock::time_point> deadline;
  if (options.timeout) deadline = start + *options.timeout;

  std::vector<CheckState> states;
  bool asks_prometheus = false;
  for (const CheckSpec& spec : gate.checks) {
    CheckState state{{}, start + spec.initial_delay};
    state.result.spec = &spec;
    if (spec.prometheus() && prometheus == nullptr) {
      finish(state.result, Phase::skipped, "no Prometheus to query");
    } else if (spec.local() && host == nullptr) {
      finish(state.result, Phase::skipped, "a local check: lpmon apply evaluates it on the host");
    }
    asks_prometheus = asks_prometheus || (spec.prometheus() && prometheus != nullptr);
    states.push_back(std::move(state));
  }

  auto query_timeout = [&] {
    Duration timeout = options.query_timeout;
    if (deadline) {
      const auto left = std::chrono::duration_cast<Duration>(*deadline - clock.now());
      timeout = std::clamp(left, Duration{1}, timeout);
    }
    return timeout;
  };

  if (asks_prometheus) {
    try {
      prometheus->query("1", query_timeout());
    } catch (const QueryError& e) {
      report.prometheus_error = e.what();
      for (CheckState& state : states) {
        if (state.result.spec->prometheus() && !state.result.finished) {
          finish(state.result, Phase::error, std::string("no measurement taken: ") + e.what());
        }
      }
    }
  }

  while (true) {
    CheckState* next = nullptr;
    for (CheckState& state : states) {
      if (!state.result.finished && (next == nullptr || state.due < next->due)) next = &state;
    }
    if (next == nullptr) break;
    if (deadline && next->due > *deadline) {
      for (CheckState& state : states) {
        if (state.result.finished) continue;
        finish(state.result, Phase::error,
               "the gate's timeout (" + format_duration(*options.timeout) + ") ended it after " +
                   std::to_string(state.result.count) + " of " +
                   std::to_string(state.result.spec->count) + " measurements");
      }
      break;
    }
    clock.sleep_until(next->due);

    CheckResult& result = next->result;
    const CheckSpec& spec = *result.spec;
    Measurement m;
    m.started_at = clock.wall_now();
    Evaluation evaluation;
    try {
      if (const PromQuery* query = spec.prometheus()) {
        const QueryResult answer = prometheus->query(query->query, query_timeout());
        evaluation = evaluate_query_result(*query, answer);
        m.series = answer.series;
      } else {
        evaluation = evaluate_local_check(*spec.local(), host->observe());
      }
    } catch (const std::exception& e) {
      evaluation = {Phase::error, {}, e.what()};
    }
    m.finished_at = clock.wall_now();
    m.phase = evaluation.phase;
    m.value = std::move(evaluation.value);
    m.message = std::move(evaluation.message);
    result.measurements.push_back(m);
    count(result, m);
    if (progress) progress(result, result.measurements.back());

    if (result.finished && result.phase == Phase::failed) {
      for (CheckState& state : states) {
        if (!state.result.finished) {
          finish(state.result, Phase::terminated, "ended early: check " + spec.name + " failed");
        }
      }
      break;
    }
    if (!result.finished) {
      Duration wait = spec.interval;
      if (m.phase == Phase::error) {
        wait = spec.interval.count() > 0 ? std::min(spec.interval, options.error_retry)
                                         : options.error_retry;
      }
      next->due = clock.now() + wait;
    }
  }

  report.verdict = Phase::successful;
  bool decided = false;
  for (CheckState& state : states) {
    const Phase phase = state.result.phase;
    if (phase == Phase::skipped || phase == Phase::terminated) continue;
    decided = true;
    if (is_worse(phase, report.verdict)) {
      report.verdict = phase;
      report.message = state.result.spec->name + ": " + state.result.message;
    }
  }
  if (!decided) {
    report.verdict = Phase::inconclusive;
    report.message = "no check was evaluated";
  }
  for (CheckState& state : states) report.checks.push_back(std::move(state.result));
  report.finished_at = clock.wall_now();
  return report;
}

}  // namespace lpmon::gate
