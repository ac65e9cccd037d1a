#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "gate_fakes.hpp"
#include "lpmon/gate/engine.hpp"

namespace lpmon::gate {
namespace {

using ::testing::ElementsAre;
using testing::FakeClock;
using testing::FakePrometheus;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::vector_of;
using namespace std::chrono_literals;

GateFile gate_of(const std::string& checks) {
  return parse_gate_file("checks:\n" + checks, "g.yaml");
}

// A check named `name` on query `name`, with its other keys.
std::string check(const std::string& name, const std::string& keys) {
  return "  - name: " + name + "\n    query: " + name + "\n" + keys;
}

const std::string kNeedsOne = "    successCondition: result[0] == 1\n";

class Engine : public ::testing::Test {
 protected:
  GateReport run(const GateFile& gate, EngineOptions options = {}, LocalSource* host = nullptr) {
    gate_ = gate;  // the report points into it
    return run_gate(gate_, &prometheus_, host, clock_, options,
                    [this](const CheckResult& c, const Measurement& m) {
                      progress_.push_back(c.spec->name + " " + std::string(to_string(m.phase)));
                    });
  }
  FakeClock clock_;
  FakePrometheus prometheus_{clock_};
  GateFile gate_;
  std::vector<std::string> progress_;
};

TEST_F(Engine, MeasuresCountTimesIntervalApartAfterTheInitialDelay) {
  prometheus_.script("a", {vector_of({1})});
  const GateReport report = run(
      gate_of(check("a", "    initialDelay: 1m\n    interval: 30s\n    count: 3\n" + kNeedsOne)));

  EXPECT_EQ(report.verdict, Phase::successful);
  EXPECT_THAT(prometheus_.times_of("1"), ElementsAre(0s));  // the reachability probe, at once
  EXPECT_THAT(prometheus_.times_of("a"), ElementsAre(60s, 90s, 120s));
  const CheckResult& a = report.checks.at(0);
  EXPECT_EQ(a.phase, Phase::successful);
  EXPECT_EQ(a.message, "3 of 3 successful");
  EXPECT_EQ(a.count, 3);
  EXPECT_EQ(a.successful, 3);
  ASSERT_EQ(a.measurements.size(), 3u);
  EXPECT_EQ(a.measurements[1].started_at, FakeClock::kWallStart + 90s);
  EXPECT_THAT(a.measurements[1].value, ElementsAre(1));
  EXPECT_EQ(a.measurements[1].series.at(0).labels.at("instance"), "host0");
  EXPECT_THAT(progress_, ElementsAre("a Successful", "a Successful", "a Successful"));
}

TEST_F(Engine, IntervalRunsFromTheEndOfTheLastMeasurementAsInArgo) {
  prometheus_.script("a", {vector_of({1})});
  prometheus_.set_latency(2s);
  run(gate_of(check("a", "    interval: 30s\n    count: 3\n" + kNeedsOne)));
  EXPECT_THAT(prometheus_.times_of("a"), ElementsAre(2s, 34s, 66s));
}

TEST_F(Engine, FailsOnceFailuresExceedTheFailureLimit) {
  prometheus_.script(
      "a", {vector_of({1}), vector_of({0}), vector_of({1}), vector_of({0}), vector_of({1})});
  const GateReport report = run(
      gate_of(check("a", "    interval: 10s\n    count: 5\n    failureLimit: 1\n" + kNeedsOne)));

  EXPECT_EQ(report.verdict, Phase::failed);
  EXPECT_EQ(report.message, "a: failed (2) > failureLimit (1)");
  EXPECT_EQ(report.checks[0].measurements.size(), 4u);  // the fifth is not taken
  EXPECT_EQ(report.checks[0].failed, 2);
  EXPECT_EQ(report.checks[0].measurements[1].message,
            "successCondition does not hold: result[0] == 1");
}

TEST_F(Engine, FailuresUpToTheLimitStillPass) {
  prometheus_.script("a", {vector_of({0}), vector_of({1}), vector_of({1})});
  const GateReport report = run(
      gate_of(check("a", "    interval: 10s\n    count: 3\n    failureLimit: 1\n" + kNeedsOne)));
  EXPECT_EQ(report.verdict, Phase::successful);
  EXPECT_EQ(report.checks[0].message, "2 of 3 successful");
}

TEST_F(Engine, InconclusiveOnceInconclusivesExceedTheLimit) {
  const std::string conditions =
      "    successCondition: result[0] < 1\n    failureCondition: result[0] > 10\n";
  prometheus_.script("a", {vector_of({5}), vector_of({0}), vector_of({5})});
  const GateReport report = run(gate_of(
      check("a", "    interval: 10s\n    count: 4\n    inconclusiveLimit: 1\n" + conditions)));
  EXPECT_EQ(report.verdict, Phase::inconclusive);
  EXPECT_EQ(report.message, "a: inconclusive (2) > inconclusiveLimit (1)");
  EXPECT_EQ(report.checks[0].measurements.size(), 3u);
  EXPECT_EQ(report.checks[0].measurements[0].message,
            "neither successCondition nor failureCondition holds");
}

TEST_F(Engine, ErrorsAreRetriedSoonerAndNotCounted) {
  prometheus_.script("a", {std::string("HTTP 503"), vector_of({1}), vector_of({1})});
  const GateReport report =
      run(gate_of(check("a", "    interval: 1m\n    count: 2\n" + kNeedsOne)));
  EXPECT_EQ(report.verdict, Phase::successful);
  // Retried after Argo's 10 s, not the 1 m interval; three queries for a count of 2.
  EXPECT_THAT(prometheus_.times_of("a"), ElementsAre(0s, 10s, 70s));
  EXPECT_EQ(report.checks[0].count, 2);
  EXPECT_EQ(report.checks[0].errors, 1);
  EXPECT_EQ(report.checks[0].measurements[0].phase, Phase::error);
  EXPECT_EQ(report.checks[0].measurements[0].message, "HTTP 503");
}

TEST_F(Engine, ErrorRetryIsTheIntervalWhenThatIsShorter) {
  prometheus_.script("a", {std::string("refused"), vector_of({1})});
  run(gate_of(check("a", "    interval: 2s\n    count: 1\n" + kNeedsOne)));
  EXPECT_THAT(prometheus_.times_of("a"), ElementsAre(0s, 2s));
  prometheus_.calls.clear();
  prometheus_.script("b", {std::string("refused"), vector_of({1})});
  run(gate_of(check("b", kNeedsOne)));  // no interval: 10 s
  EXPECT_THAT(prometheus_.times_of("b"), ElementsAre(2s, 12s));
}

TEST_F(Engine, ErrorOnceConsecutiveErrorsExceedTheLimit) {
  prometheus_.script("a", {std::string("e1"), std::string("e2"), vector_of({1}), std::string("e3"),
                           std::string("e4"), std::string("timed out")});
  const GateReport report = run(gate_of(
      check("a", "    interval: 10s\n    count: 5\n    consecutiveErrorLimit: 2\n" + kNeedsOne)));
  EXPECT_EQ(report.verdict, Phase::error);
  // Two in a row are within the limit; the success resets the run; the third in a row ends it.
  EXPECT_EQ(report.message, "a: consecutiveErrors (3) > consecutiveErrorLimit (2): timed out");
  EXPECT_EQ(report.checks[0].measurements.size(), 6u);
  EXPECT_EQ(report.checks[0].errors, 5);
  EXPECT_EQ(report.checks[0].consecutive_errors, 3);
}

TEST_F(Engine, DefaultConsecutiveErrorLimitIsFour) {
  prometheus_.script("a", {std::string("HTTP 500")});
  const GateReport report = run(gate_of(check("a", kNeedsOne)));
  EXPECT_EQ(report.verdict, Phase::error);
  EXPECT_EQ(report.checks[0].measurements.size(), 5u);
}

TEST_F(Engine, AnEmptyResultIsNeverASuccess) {
  prometheus_.script("a", {vector_of({})});
  prometheus_.script("b", {vector_of({})});
  prometheus_.script("c", {vector_of({})});
  const GateReport report =
      run(gate_of(check("a", "    successCondition: all(result, {# == 1})\n") + check("b", "") +
                  check("c", "    successCondition: len(result) == 0\n")));
  ASSERT_EQ(report.checks.size(), 3u);
  for (const CheckResult& c : report.checks) {
    EXPECT_EQ(c.phase, Phase::inconclusive) << c.spec->name;
    EXPECT_EQ(c.measurements.at(0).message, "empty result: the query matched no series");
  }
  EXPECT_EQ(report.verdict, Phase::inconclusive);
}

TEST_F(Engine, AnEmptyResultFailsWhenTheFailureConditionSaysSo) {
  prometheus_.script("a", {vector_of({})});
  const GateReport report = run(gate_of(check("a", "    failureCondition: len(result) == 0\n")));
  EXPECT_EQ(report.verdict, Phase::failed);
  EXPECT_EQ(report.checks[0].measurements[0].message, "empty result, and failureCondition holds");
}

TEST_F(Engine, ACheckThatNeverSucceededIsNotASuccessEvenWithoutLimits) {
  prometheus_.script("a", {vector_of({0})});
  const GateReport report = run(
      gate_of(check("a", "    interval: 1s\n    count: 3\n    failureLimit: -1\n" + kNeedsOne)));
  EXPECT_EQ(report.checks[0].failed, 3);
  EXPECT_EQ(report.verdict, Phase::inconclusive);
  EXPECT_EQ(report.message, "a: no measurement was successful");
}

TEST_F(Engine, StopsEveryCheckOnceOneFails) {
  prometheus_.script("slow", {vector_of({1})});
  prometheus_.script("bad", {vector_of({0})});
  const GateReport report =
      run(gate_of(check("slow", "    interval: 1m\n    count: 10\n" + kNeedsOne) +
                  check("bad", "    initialDelay: 90s\n" + kNeedsOne)));
  EXPECT_EQ(report.verdict, Phase::failed);
  EXPECT_EQ(report.checks[0].phase, Phase::terminated);
  EXPECT_EQ(report.checks[0].message, "ended early: check bad failed");
  EXPECT_THAT(prometheus_.times_of("slow"), ElementsAre(0s, 60s));
  EXPECT_EQ(clock_.elapsed(), 90s);
}

TEST_F(Engine, VerdictIsTheWorstCheck) {
  prometheus_.script("ok", {vector_of({1})});
  prometheus_.script("unsure", {vector_of({5})});
  prometheus_.script("broken", {std::string("bad_data: parse error")});
  const std::string unsure =
      "    successCondition: result[0] == 1\n    failureCondition: result[0] == 0\n";
  EXPECT_EQ(run(gate_of(check("ok", kNeedsOne) + check("unsure", unsure))).verdict,
            Phase::inconclusive);
  const GateReport report = run(gate_of(check("ok", kNeedsOne) + check("unsure", unsure) +
                                        check("broken", "    consecutiveErrorLimit: 0\n")));
  EXPECT_EQ(report.verdict, Phase::error);  // Error is worse than Inconclusive, as in Argo
  EXPECT_EQ(report.message,
            "broken: consecutiveErrors (1) > consecutiveErrorLimit (0): bad_data: parse error");
  EXPECT_TRUE(is_worse(Phase::failed, Phase::error));
  EXPECT_TRUE(is_worse(Phase::error, Phase::inconclusive));
  EXPECT_TRUE(is_worse(Phase::inconclusive, Phase::successful));
}

TEST_F(Engine, UnreachablePrometheusIsAnErrorBeforeAnyDelay) {
  prometheus_.script("1", {std::string("cannot reach Prometheus at http://x: refused")});
  const GateReport report =
      run(gate_of(check("a", "    initialDelay: 5m\n" + kNeedsOne) + check("b", kNeedsOne)));
  EXPECT_EQ(report.verdict, Phase::error);
  EXPECT_EQ(report.prometheus_error, "cannot reach Prometheus at http://x: refused");
  EXPECT_EQ(report.checks[0].message,
            "no measurement taken: cannot reach Prometheus at http://x: refused");
  EXPECT_THAT(report.checks[1].measurements, IsEmpty());
  EXPECT_EQ(prometheus_.calls.size(), 1u);
  EXPECT_EQ(clock_.elapsed(), 0s);
}

TEST_F(Engine, TimeoutEndsUnfinishedChecksAsErrors) {
  prometheus_.script("a", {vector_of({1})});
  EngineOptions options;
  options.timeout = 1min;
  const GateReport report =
      run(gate_of(check("a", "    interval: 30s\n    count: 5\n" + kNeedsOne)), options);
  EXPECT_EQ(report.verdict, Phase::error);
  EXPECT_EQ(report.message, "a: the gate's timeout (1m) ended it after 3 of 5 measurements");
  EXPECT_THAT(prometheus_.times_of("a"), ElementsAre(0s, 30s, 60s));
  EXPECT_EQ(clock_.elapsed(), 60s);  // it does not sleep towards a measurement it cannot take
}

TEST_F(Engine, QueriesGetTheQueryTimeoutButNotBeyondTheGatesTimeout) {
  prometheus_.script("a", {vector_of({1})});
  prometheus_.set_latency(20s);
  EngineOptions options;
  options.timeout = 50s;
  options.query_timeout = 30s;
  run(gate_of(check("a", "    interval: 1s\n    count: 2\n" + kNeedsOne)), options);
  ASSERT_EQ(prometheus_.calls.size(), 3u);
  EXPECT_EQ(prometheus_.calls[0].timeout, Duration(30s));  // probe at 0
  EXPECT_EQ(prometheus_.calls[1].timeout, Duration(30s));  // at 20 s
  EXPECT_EQ(prometheus_.calls[2].timeout, Duration(9s));   // at 41 s: 9 s left
}

class FakeHost final : public LocalSource {
 public:
  LocalObservation observe() override {
    ++observed;
    if (fail) throw std::runtime_error("cannot read /proc/sys/kernel/tainted");
    return observation;
  }
  LocalObservation observation;
  bool fail = false;
  int observed = 0;
};

const std::string kLocalTransition =
    "  - name: t\n    local:\n      kind: transitionFinished\n      within: 30s\n";

TEST_F(Engine, LocalChecksAskTheHostAndAreSkippedWithoutOne) {
  FakeHost host;
  host.observation.transition_duration = 3s;
  host.observation.transition_finished = true;
  prometheus_.script("a", {vector_of({1})});
  const GateFile gate = gate_of(check("a", kNeedsOne) + kLocalTransition);

  GateReport report = run(gate, {}, &host);
  EXPECT_EQ(report.verdict, Phase::successful);
  EXPECT_EQ(report.checks[1].phase, Phase::successful);
  EXPECT_THAT(report.checks[1].measurements.at(0).value, ElementsAre(3));
  EXPECT_EQ(host.observed, 1);

  report = run(gate);
  EXPECT_EQ(report.checks[1].phase, Phase::skipped);
  EXPECT_EQ(report.checks[1].message, "a local check: lpmon apply evaluates it on the host");
  EXPECT_EQ(report.verdict, Phase::successful);

  host.fail = true;
  report = run(gate_of(kLocalTransition), {}, &host);
  EXPECT_EQ(report.verdict, Phase::error);
  EXPECT_EQ(report.checks[0].measurements.at(0).message, "cannot read /proc/sys/kernel/tainted");
}

TEST_F(Engine, WithNothingEvaluatedTheVerdictIsInconclusive) {
  const GateFile gate = gate_of(kLocalTransition);
  gate_ = gate;
  const GateReport report = run_gate(gate_, nullptr, nullptr, clock_, {});
  EXPECT_EQ(report.verdict, Phase::inconclusive);
  EXPECT_EQ(report.message, "no check was evaluated");
}

PromQuery conditions(const char* success, const char* failure) {
  PromQuery query;
  if (success) query.success_condition = Condition::parse(success);
  if (failure) query.failure_condition = Condition::parse(failure);
  return query;
}

TEST(EvaluateQueryResult, ArgosRulesForTheTwoConditions) {
  const QueryResult one = vector_of({1});
  EXPECT_EQ(evaluate_query_result(conditions(nullptr, nullptr), one).phase, Phase::successful);
  EXPECT_EQ(evaluate_query_result(conditions("result[0] == 1", nullptr), one).phase,
            Phase::successful);
  EXPECT_EQ(evaluate_query_result(conditions("result[0] == 2", nullptr), one).phase, Phase::failed);
  EXPECT_EQ(evaluate_query_result(conditions(nullptr, "result[0] == 1"), one).phase, Phase::failed);
  EXPECT_EQ(evaluate_query_result(conditions(nullptr, "result[0] == 2"), one).phase,
            Phase::successful);
  // Both hold: failure wins.
  const Evaluation both = evaluate_query_result(conditions("result[0] == 1", "result[0] > 0"), one);
  EXPECT_EQ(both.phase, Phase::failed);
  EXPECT_EQ(both.message, "failureCondition holds: result[0] > 0");
  EXPECT_EQ(evaluate_query_result(conditions("result[0] == 2", "result[0] == 3"), one).phase,
            Phase::inconclusive);
  const Evaluation broken = evaluate_query_result(conditions("result[1] == 1", nullptr), one);
  EXPECT_EQ(broken.phase, Phase::error);
  EXPECT_EQ(broken.message,
            "cannot evaluate the condition: result[1] is out of range: result has 1 values");
}

TEST(EvaluateQueryResult, ScalarAndMatrixResults) {
  QueryResult scalar;
  scalar.type = QueryResult::Type::scalar;
  scalar.series.push_back({{}, {0.25}});
  EXPECT_EQ(evaluate_query_result(conditions("result < 0.5", nullptr), scalar).phase,
            Phase::successful);

  QueryResult matrix;
  matrix.type = QueryResult::Type::matrix;
  matrix.series.push_back({{{"instance", "a"}}, {0, 0, 1}});
  matrix.series.push_back({{{"instance", "b"}}, {0, 0}});
  const Evaluation e = evaluate_query_result(conditions("all(result, {# == 0})", nullptr), matrix);
  EXPECT_EQ(e.phase, Phase::failed);
  EXPECT_THAT(e.value, ElementsAre(0, 0, 1, 0, 0));  // every sample, series by series
}

TEST(EvaluateQueryResult, AnEmptyFailureConditionErrorIsNotAFailure) {
  // result[0] > 5 cannot be evaluated on nothing; the result is still Inconclusive, not Error.
  const Evaluation e =
      evaluate_query_result(conditions("result[0] < 1", "result[0] > 5"), vector_of({}));
  EXPECT_EQ(e.phase, Phase::inconclusive);
}

}  // namespace
}  // namespace lpmon::gate
