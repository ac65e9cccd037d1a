#include "trace.hpp"

#include <stdlib.h>
#include <time.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

namespace lpmon::cli {
namespace {

using bpf::TransitionEvent;
using bpf::TransitionKind;
using bpf::TransitionResult;
using namespace std::chrono_literals;
using std::chrono::system_clock;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// 2024-03-05T12:34:56.789012345Z.
const system_clock::time_point kWall =
    std::chrono::sys_days{std::chrono::year{2024} / 3 / 5} + 12h + 34min + 56s + 789'012'345ns;

TransitionEvent start_event() {
  return TransitionEvent{.timestamp = 42'000'000'000ns,
                         .kind = TransitionKind::start,
                         .patching = true,
                         .patch = "livepatch_sample"};
}

TransitionEvent end_event(std::chrono::nanoseconds duration, std::uint32_t rounds) {
  return TransitionEvent{.timestamp = 43'003'400'000ns,
                         .duration = duration,
                         .kind = TransitionKind::end,
                         .patching = true,
                         .result = TransitionResult::complete,
                         .rounds = rounds,
                         .patch = "livepatch_sample"};
}

// Sets TZ for its lifetime and restores the previous value after.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* tz) {
    if (const char* old = ::getenv("TZ")) saved_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (saved_) {
      ::setenv("TZ", saved_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ScopedTimeZone(const ScopedTimeZone&) = delete;
  ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

 private:
  std::optional<std::string> saved_;
};

// The text format shows the local time of day: its tests run in UTC unless they say otherwise.
class TransitionText : public ::testing::Test {
 private:
  ScopedTimeZone utc_{"UTC0"};
};

TEST_F(TransitionText, StartEvent) {
  EXPECT_EQ(format_transition_text(start_event(), kWall),
            "12:34:56.789 livepatch_sample         start    patching");
}

TEST_F(TransitionText, ReverseEventShowsNewDirection) {
  TransitionEvent event = start_event();
  event.kind = TransitionKind::reverse;
  event.patching = false;

  EXPECT_EQ(format_transition_text(event, kWall),
            "12:34:56.789 livepatch_sample         reverse  unpatching");
}

TEST_F(TransitionText, EndEventShowsResultDurationAndRounds) {
  EXPECT_EQ(
      format_transition_text(end_event(1'003'400'000ns, 2), kWall),
      "12:34:56.789 livepatch_sample         end      patching    complete  1.003 s, 2 rounds");
}

TEST_F(TransitionText, OneRoundIsSingular) {
  EXPECT_THAT(format_transition_text(end_event(250ms, 1), kWall), EndsWith(" 0.250 s, 1 round"));
  EXPECT_THAT(format_transition_text(end_event(250ms, 0), kWall), EndsWith(" 0.250 s, 0 rounds"));
}

TEST_F(TransitionText, DurationHasThreeDecimalsRounded) {
  EXPECT_THAT(format_transition_text(end_event(1'999'600'000ns, 3), kWall),
              HasSubstr(" 2.000 s, 3 rounds"));
  EXPECT_THAT(format_transition_text(end_event(12s, 3), kWall), HasSubstr(" 12.000 s, "));
  EXPECT_THAT(format_transition_text(end_event(0ns, 1), kWall), HasSubstr(" 0.000 s, "));
}

TEST_F(TransitionText, EndEventShowsEachResult) {
  TransitionEvent event = end_event(1s, 5);
  event.patching = false;
  event.result = TransitionResult::forced;

  EXPECT_EQ(
      format_transition_text(event, kWall),
      "12:34:56.789 livepatch_sample         end      unpatching  forced    1.000 s, 5 rounds");
}

TEST_F(TransitionText, MillisecondsAreTruncatedNotRounded) {
  const auto wall =
      std::chrono::sys_days{std::chrono::year{2024} / 3 / 5} + 23h + 59min + 59s + 999'900'000ns;
  EXPECT_THAT(format_transition_text(start_event(), wall), StartsWith("23:59:59.999 "));
}

TEST_F(TransitionText, TimeOfDayIsLocal) {
  const ScopedTimeZone east("XYZ-2");  // POSIX: two hours east of UTC, no tzdata needed

  EXPECT_THAT(format_transition_text(start_event(), kWall), StartsWith("14:34:56.789 "));
}

TEST_F(TransitionText, LongPatchNameIsNotCut) {
  TransitionEvent event = end_event(1s, 1);
  event.patch = std::string(55, 'p');  // the longest module name

  EXPECT_EQ(format_transition_text(event, kWall),
            "12:34:56.789 " + event.patch + " end      patching    complete  1.000 s, 1 round");
}

TEST(TransitionJson, StartEventHasNoResultOrDuration) {
  const nlohmann::json j = transition_to_json(start_event(), kWall);

  EXPECT_EQ(j.at("time"), "2024-03-05T12:34:56.789012Z");
  EXPECT_EQ(j.at("monotonic_ns"), 42'000'000'000);
  EXPECT_EQ(j.at("type"), "transition");
  EXPECT_EQ(j.at("event"), "start");
  EXPECT_EQ(j.at("patch"), "livepatch_sample");
  EXPECT_EQ(j.at("direction"), "patching");
  EXPECT_EQ(j.at("rounds"), 0);
  EXPECT_FALSE(j.contains("result"));
  EXPECT_FALSE(j.contains("duration_seconds"));
}

TEST(TransitionJson, ReverseEventHasNoResultOrDuration) {
  TransitionEvent event = start_event();
  event.kind = TransitionKind::reverse;
  event.patching = false;
  event.rounds = 3;

  const nlohmann::json j = transition_to_json(event, kWall);

  EXPECT_EQ(j.at("event"), "reverse");
  EXPECT_EQ(j.at("direction"), "unpatching");
  EXPECT_EQ(j.at("rounds"), 3);
  EXPECT_FALSE(j.contains("result"));
  EXPECT_FALSE(j.contains("duration_seconds"));
}

TEST(TransitionJson, EndEventHasResultAndDuration) {
  TransitionEvent event = end_event(1'003'400'000ns, 2);
  event.patching = false;
  event.result = TransitionResult::reversed;

  const nlohmann::json j = transition_to_json(event, kWall);

  EXPECT_EQ(j.at("event"), "end");
  EXPECT_EQ(j.at("direction"), "unpatching");
  EXPECT_EQ(j.at("result"), "reversed");
  EXPECT_DOUBLE_EQ(j.at("duration_seconds").get<double>(), 1.0034);
  EXPECT_EQ(j.at("rounds"), 2);
  EXPECT_EQ(j.at("monotonic_ns"), 43'003'400'000);
  EXPECT_EQ(j.size(), 9u);
}

TEST(TransitionJson, TimeIsUtcWhateverTheLocalZone) {
  const ScopedTimeZone east("XYZ-2");

  EXPECT_EQ(transition_to_json(start_event(), kWall).at("time"), "2024-03-05T12:34:56.789012Z");
}

TEST(TransitionJson, TimeKeepsLeadingZeros) {
  const auto wall =
      std::chrono::sys_days{std::chrono::year{2001} / 2 / 3} + 4h + 5min + 6s + 7us + 999ns;
  EXPECT_EQ(transition_to_json(start_event(), wall).at("time"), "2001-02-03T04:05:06.000007Z");
}

TEST(TransitionJson, DumpsAsOneLine) {
  const std::string text = transition_to_json(end_event(1s, 1), kWall).dump();
  EXPECT_THAT(text, StartsWith("{"));
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(text).at("result"), "complete");
}

TEST(ClockOffsetWall, AddsTheMonotonicDifference) {
  const ClockOffset offset{.wall_at_start = kWall, .monotonic_at_start = 1000s};

  EXPECT_EQ(offset.wall(1000s), kWall);
  EXPECT_EQ(offset.wall(1000s + 1'500'000'001ns), kWall + 1'500'000'001ns);
  EXPECT_EQ(offset.wall(3600s + 1000s), kWall + 1h);
}

TEST(ClockOffsetWall, EarlierMonotonicTimesGoBack) {
  const ClockOffset offset{.wall_at_start = kWall, .monotonic_at_start = 1000s};

  EXPECT_EQ(offset.wall(999s), kWall - 1s);
  EXPECT_EQ(offset.wall(0ns), kWall - 1000s);
}

TEST(ClockOffsetWall, NowPairsTheTwoClocks) {
  const auto before = system_clock::now();
  const ClockOffset offset = ClockOffset::now();
  const auto after = system_clock::now();

  EXPECT_GE(offset.wall_at_start, before);
  EXPECT_LE(offset.wall_at_start, after);
  EXPECT_GT(offset.monotonic_at_start, 0ns);
  EXPECT_EQ(offset.wall(offset.monotonic_at_start + 2s), offset.wall_at_start + 2s);
}

}  // namespace
}  // namespace lpmon::cli
