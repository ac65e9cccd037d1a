#pragma once

// A clock that only moves when the engine sleeps, and a Prometheus that answers from a script,
// so that engine tests run gates of minutes in microseconds and assert on the schedule.
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "lpmon/gate/engine.hpp"

namespace lpmon::gate::testing {

class FakeClock final : public Clock {
 public:
  time_point now() override { return now_; }
  void sleep_until(time_point when) override {
    if (when > now_) now_ = when;
  }
  std::chrono::system_clock::time_point wall_now() override {
    return kWallStart +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(now_ - time_point{});
  }
  // Time since the start, for assertions on the schedule.
  Duration elapsed() const { return std::chrono::duration_cast<Duration>(now_ - time_point{}); }
  void advance(Duration d) { now_ += d; }

  static constexpr std::chrono::system_clock::time_point kWallStart{
      std::chrono::seconds(1'700'000'000)};

 private:
  time_point now_{};
};

// A value list as a vector result of one series per value.
inline QueryResult vector_of(std::vector<double> values) {
  QueryResult result;
  for (std::size_t i = 0; i < values.size(); ++i) {
    result.series.push_back({{{"instance", "host" + std::to_string(i)}}, {values[i]}});
  }
  return result;
}

// Answers each query with the next scripted answer for it (the last one repeats); a string is
// a QueryError. "1", the engine's reachability probe, succeeds unless scripted. Every query
// is recorded with the fake time it was asked at, and the timeout it was given.
class FakePrometheus final : public QueryBackend {
 public:
  using Answer = std::variant<QueryResult, std::string>;

  explicit FakePrometheus(FakeClock& clock) : clock_(clock) {}

  void script(const std::string& query, std::vector<Answer> answers) {
    scripts_[query] = std::deque<Answer>(answers.begin(), answers.end());
  }
  // Each query costs this much fake time, as a real one takes a while.
  void set_latency(Duration latency) { latency_ = latency; }

  QueryResult query(const std::string& promql, std::chrono::milliseconds timeout) override {
    calls.push_back({promql, clock_.elapsed(), timeout});
    clock_.advance(latency_);
    auto it = scripts_.find(promql);
    if (it == scripts_.end()) {
      if (promql == "1") return vector_of({1});
      throw QueryError("no answer scripted for " + promql);
    }
    Answer answer = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    if (auto* error = std::get_if<std::string>(&answer)) throw QueryError(*error);
    return std::get<QueryResult>(answer);
  }

  struct Call {
    std::string query;
    Duration at;
    Duration timeout;
  };
  std::vector<Call> calls;

  // The times a given query was asked at.
  std::vector<Duration> times_of(const std::string& query) const {
    std::vector<Duration> times;
    for (const Call& call : calls) {
      if (call.query == query) times.push_back(call.at);
    }
    return times;
  }

 private:
  FakeClock& clock_;
  std::map<std::string, std::deque<Answer>> scripts_;
  Duration latency_{0};
};

}  // namespace lpmon::gate::testing
