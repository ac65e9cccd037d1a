#include "trace.hpp"

#include <stdlib.h>
#include <time.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <string>

namespace lpmon::cli {
namespace {

using bpf::BlockReason;
using bpf::RoundEvent;
using bpf::TaskBlockedEvent;
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

RoundEvent round_event() {
  return RoundEvent{.timestamp = 44'000'000'000ns,
                    .patch = "lpmon_fixes_v2",
                    .patching = true,
                    .round = 2,
                    .switched = 1,
                    .blocked = 4,
                    .running = 1,
                    .unreliable_stack = 0,
                    .sleeping_in_function = 3,
                    .reported = 3};
}

TaskBlockedEvent blocked_event() {
  return TaskBlockedEvent{.timestamp = 43'500'000'000ns,
                          .patch = "lpmon_fixes_v2",
                          .patching = true,
                          .round = 1,
                          .reason = BlockReason::sleeping_in_function,
                          .error = -98,
                          .pid = 97,
                          .tgid = 97,
                          .comm = "lpmon_park/0",
                          .kthread = true,
                          .state = 'I',
                          .function = "lpmon_target_wait_released",
                          .stack = {{.address = 0xffffffff81a0b0c4, .symbol = "__schedule+0x2f4"},
                                    {.address = 0xffffffffc0a01048,
                                     .symbol = "lpmon_target_wait_released+0x48 [lpmon_target]"},
                                    {.address = 0xffffffffc0a05000, .symbol = ""}}};
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

TEST_F(TransitionText, InProgressSaysItBeganBeforeTracing) {
  TransitionEvent event = start_event();
  event.kind = TransitionKind::in_progress;
  event.began_before_trace = true;

  EXPECT_EQ(format_transition_text(event, kWall),
            "12:34:56.789 livepatch_sample         in_progress patching, began before tracing");
}

TEST_F(TransitionText, EndOfATransitionThatBeganBeforeTracingShowsTimeSeen) {
  TransitionEvent event = end_event(3'012'000'000ns, 4);
  event.result = TransitionResult::forced;
  event.began_before_trace = true;

  EXPECT_EQ(format_transition_text(event, kWall),
            "12:34:56.789 livepatch_sample         end      patching    forced    seen for 3.012 s "
            "(began before tracing), 4 rounds");
}

TEST_F(TransitionText, RoundSummary) {
  EXPECT_EQ(format_round_text(round_event(), kWall),
            "12:34:56.789 lpmon_fixes_v2           round    patching    round 2: 4 blocked (3 "
            "sleeping in a function, 1 running, 0 unreliable stack), 1 switched");
}

TEST_F(TransitionText, RoundSummaryShowsOtherAndUnreportedOnlyWhenThere) {
  RoundEvent event = round_event();
  event.patching = false;
  event.other = 2;
  event.unreported = 250;

  EXPECT_THAT(format_round_text(event, kWall),
              EndsWith(" unpatching  round 2: 4 blocked (3 sleeping in a function, 1 running, 0 "
                       "unreliable stack, 2 other), 1 switched; 250 not reported yet"));
}

TEST_F(TransitionText, BlockedTaskWithItsStackOneFramePerLine) {
  EXPECT_EQ(format_task_blocked_text(blocked_event(), kWall),
            "12:34:56.789 lpmon_fixes_v2           blocked  patching    pid 97 [lpmon_park/0] "
            "kthread, state I, round 1: sleeping in a to-be-patched function: "
            "lpmon_target_wait_released\n"
            "    __schedule+0x2f4\n"
            "    lpmon_target_wait_released+0x48 [lpmon_target]\n"
            "    0xffffffffc0a05000");
}

TEST_F(TransitionText, BlockedThreadShowsItsProcessAndRunningTaskHasNoStack) {
  TaskBlockedEvent event = blocked_event();
  event.pid = 1234;
  event.tgid = 1200;
  event.comm = "worker";
  event.kthread = false;
  event.state = 'R';
  event.reason = BlockReason::running;
  event.error = -16;
  event.function.clear();
  event.stack.clear();

  EXPECT_THAT(format_task_blocked_text(event, kWall),
              EndsWith("blocked  patching    pid 1234 (tgid 1200) [worker], state R, round 1: "
                       "running on another CPU"));
}

TEST_F(TransitionText, BlockedTaskWhoseStackCouldNotBeReadSaysWhy) {
  TaskBlockedEvent event = blocked_event();
  event.reason = BlockReason::other;
  event.error = -5;
  event.function.clear();
  event.stack.clear();
  event.stack_error = ENOENT;

  EXPECT_THAT(
      format_task_blocked_text(event, kWall),
      EndsWith(
          "round 1: klp could not check it (error -5)\n    (no stack: No such file or directory)"));
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
  EXPECT_EQ(j.at("switched_at_cond_resched"), 0);
  EXPECT_EQ(j.size(), 10u);
}

// 6.4+ switches tasks at cond_resched as well: the end line says how many did.
TEST_F(TransitionText, EndLineCountsTasksSwitchedAtCondResched) {
  TransitionEvent event = end_event(1s, 2);
  EXPECT_THAT(format_transition_text(event, kWall), ::testing::Not(HasSubstr("cond_resched")));
  event.switched_at_cond_resched = 3;
  EXPECT_THAT(format_transition_text(event, kWall),
              EndsWith(", 2 rounds, 3 tasks switched at cond_resched"));
  EXPECT_EQ(transition_to_json(event, kWall).at("switched_at_cond_resched"), 3);
}

TEST(TransitionJson, TransitionThatBeganBeforeTracingHasSeenSecondsNotDuration) {
  TransitionEvent event = end_event(3s, 4);
  event.began_before_trace = true;

  const nlohmann::json j = transition_to_json(event, kWall);

  EXPECT_EQ(j.at("began_before_trace"), true);
  EXPECT_DOUBLE_EQ(j.at("seen_seconds").get<double>(), 3.0);
  EXPECT_FALSE(j.contains("duration_seconds"));
  EXPECT_FALSE(transition_to_json(end_event(3s, 4), kWall).contains("began_before_trace"));
}

TEST(RoundJson, HasEveryCount) {
  const nlohmann::json j = round_to_json(round_event(), kWall);

  EXPECT_EQ(j.at("type"), "round");
  EXPECT_EQ(j.at("time"), "2024-03-05T12:34:56.789012Z");
  EXPECT_EQ(j.at("monotonic_ns"), 44'000'000'000);
  EXPECT_EQ(j.at("patch"), "lpmon_fixes_v2");
  EXPECT_EQ(j.at("direction"), "patching");
  EXPECT_EQ(j.at("round"), 2);
  EXPECT_EQ(j.at("switched"), 1);
  EXPECT_EQ(j.at("blocked"), 4);
  EXPECT_EQ(j.at("sleeping_in_function"), 3);
  EXPECT_EQ(j.at("running"), 1);
  EXPECT_EQ(j.at("unreliable_stack"), 0);
  EXPECT_EQ(j.at("other"), 0);
  EXPECT_EQ(j.at("reported"), 3);
  EXPECT_EQ(j.at("unreported"), 0);
  EXPECT_FALSE(j.contains("began_before_trace"));
}

TEST(TaskBlockedJson, NamesReasonFunctionAndSymbolizedStack) {
  const nlohmann::json j = task_blocked_to_json(blocked_event(), kWall);

  EXPECT_EQ(j.at("type"), "task_blocked");
  EXPECT_EQ(j.at("monotonic_ns"), 43'500'000'000);
  EXPECT_EQ(j.at("patch"), "lpmon_fixes_v2");
  EXPECT_EQ(j.at("direction"), "patching");
  EXPECT_EQ(j.at("round"), 1);
  EXPECT_EQ(j.at("pid"), 97);
  EXPECT_EQ(j.at("tgid"), 97);
  EXPECT_EQ(j.at("comm"), "lpmon_park/0");
  EXPECT_EQ(j.at("kthread"), true);
  EXPECT_EQ(j.at("state"), "I");
  EXPECT_EQ(j.at("reason"), "sleeping_in_function");
  EXPECT_EQ(j.at("reason_text"), "sleeping in a to-be-patched function");
  EXPECT_EQ(j.at("error"), -98);
  EXPECT_EQ(j.at("function"), "lpmon_target_wait_released");
  ASSERT_EQ(j.at("stack").size(), 3u);
  EXPECT_EQ(j.at("stack")[1].at("address"), "0xffffffffc0a01048");
  EXPECT_EQ(j.at("stack")[1].at("symbol"), "lpmon_target_wait_released+0x48 [lpmon_target]");
  EXPECT_TRUE(j.at("stack")[2].at("symbol").is_null());
  EXPECT_FALSE(j.contains("stack_error"));
}

TEST(TaskBlockedJson, RunningTaskHasNullFunctionAndEmptyStack) {
  TaskBlockedEvent event = blocked_event();
  event.reason = BlockReason::running;
  event.function.clear();
  event.stack.clear();

  const nlohmann::json j = task_blocked_to_json(event, kWall);

  EXPECT_EQ(j.at("reason"), "running");
  EXPECT_TRUE(j.at("function").is_null());
  EXPECT_TRUE(j.at("stack").empty());
  EXPECT_EQ(j.dump().find('\n'), std::string::npos);
}

TEST(EventDispatch, EachTypeGoesToItsFormatter) {
  const ClockOffset clock{.wall_at_start = kWall, .monotonic_at_start = 42s};
  const ScopedTimeZone utc("UTC0");

  EXPECT_EQ(event_to_json(bpf::TraceEvent(start_event()), clock).at("type"), "transition");
  EXPECT_EQ(event_to_json(bpf::TraceEvent(round_event()), clock).at("type"), "round");
  EXPECT_EQ(event_to_json(bpf::TraceEvent(blocked_event()), clock).at("type"), "task_blocked");
  // Each at its own time: 42 s, 44 s and 43.5 s on the monotonic clock.
  EXPECT_THAT(format_event_text(bpf::TraceEvent(start_event()), clock),
              StartsWith("12:34:56.789 "));
  EXPECT_THAT(format_event_text(bpf::TraceEvent(round_event()), clock),
              StartsWith("12:34:58.789 lpmon_fixes_v2           round "));
  EXPECT_THAT(format_event_text(bpf::TraceEvent(blocked_event()), clock),
              StartsWith("12:34:58.289 lpmon_fixes_v2           blocked "));
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

bpf::TaskStateScan stuck_scan() {
  bpf::TaskStateScan scan;
  scan.patch_state_available = true;
  scan.patched = 72;
  scan.unpatched = 2;
  scan.not_at_target = {
      {.pid = 97,
       .tgid = 97,
       .comm = "lpmon_park/0",
       .patch_state = kTaskUnpatched,
       .kthread = true,
       .stack = {{.address = 0xffffffff81a0b0c4, .symbol = "__schedule+0x2f4"},
                 {.address = 0xffffffffc0a01048,
                  .symbol = "lpmon_target_wait_released+0x48 [lpmon_target]"}}},
      {.pid = 130,
       .tgid = 128,
       .comm = "cat",
       .patch_state = kTaskUnpatched,
       .on_cpu = true,
       .stack_error = EFAULT,
       .stack = {}},
  };
  return scan;
}

TEST(ScanTarget, IsTheTargetOfTheTransitionInProgress) {
  EXPECT_EQ(scan_target({}), kTaskPatchIdle);
  EXPECT_EQ(scan_target({{.name = "a", .enabled = true, .transition = false}}), kTaskPatchIdle);
  EXPECT_EQ(scan_target({{.name = "a", .enabled = true, .transition = false},
                         {.name = "b", .enabled = true, .transition = true}}),
            kTaskPatched);
  // A patch being disabled, or whose enabling was reversed: enabled is already false.
  EXPECT_EQ(scan_target({{.name = "b", .enabled = false, .transition = true}}), kTaskUnpatched);
  EXPECT_EQ(patch_state_name(kTaskPatchIdle), "idle");
  EXPECT_EQ(patch_state_name(kTaskUnpatched), "unpatched");
  EXPECT_EQ(patch_state_name(kTaskPatched), "patched");
  EXPECT_EQ(patch_state_name(7), "unknown");
}

TEST(TaskScanText, ListsTheTasksNotAtTargetWithTheirStacks) {
  EXPECT_EQ(format_task_scan_text(stuck_scan(), kTaskPatched, "lpmon_fixes_v2"),
            "74 tasks: 72 patched, 2 unpatched, 0 idle; 2 not patched yet (lpmon_fixes_v2 in "
            "transition):\n"
            "pid 97 [lpmon_park/0] kthread, unpatched\n"
            "    __schedule+0x2f4\n"
            "    lpmon_target_wait_released+0x48 [lpmon_target]\n"
            "pid 130 (tgid 128) [cat], unpatched, running (its stack was moving)\n"
            "    (no stack: Bad address)");
}

TEST(TaskScanText, NoTransitionOrNoLivepatch) {
  bpf::TaskStateScan idle;
  idle.patch_state_available = true;
  idle.idle = 80;
  EXPECT_EQ(format_task_scan_text(idle, kTaskPatchIdle, ""),
            "80 tasks: 0 patched, 0 unpatched, 80 idle; no transition in progress");
  idle.patch_state_available = false;
  idle.other = 1;
  EXPECT_EQ(format_task_scan_text(idle, kTaskPatchIdle, ""),
            "81 tasks: 0 patched, 0 unpatched, 80 idle, 1 in an unknown state (this kernel's "
            "tasks have no patch_state: CONFIG_LIVEPATCH is off)");
}

TEST(TaskScanJson, CountsTargetAndTasks) {
  const nlohmann::json j = task_scan_to_json(stuck_scan(), kTaskPatched, "lpmon_fixes_v2");

  EXPECT_EQ(j.at("type"), "task_scan");
  EXPECT_EQ(j.at("patch_state_available"), true);
  EXPECT_EQ(j.at("transition_patch"), "lpmon_fixes_v2");
  EXPECT_EQ(j.at("target"), "patched");
  EXPECT_EQ(j.at("total"), 74);
  EXPECT_EQ(j.at("patched"), 72);
  EXPECT_EQ(j.at("unpatched"), 2);
  EXPECT_EQ(j.at("idle"), 0);
  EXPECT_EQ(j.at("other"), 0);
  const auto& tasks = j.at("not_at_target");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].at("pid"), 97);
  EXPECT_EQ(tasks[0].at("comm"), "lpmon_park/0");
  EXPECT_EQ(tasks[0].at("kthread"), true);
  EXPECT_EQ(tasks[0].at("patch_state"), "unpatched");
  EXPECT_EQ(tasks[0].at("stack")[1].at("symbol"), "lpmon_target_wait_released+0x48 [lpmon_target]");
  EXPECT_FALSE(tasks[0].contains("stack_error"));
  EXPECT_EQ(tasks[1].at("tgid"), 128);
  EXPECT_EQ(tasks[1].at("on_cpu"), true);
  EXPECT_EQ(tasks[1].at("stack_error"), "Bad address");
  EXPECT_TRUE(tasks[1].at("stack").empty());
}

TEST(TaskScanJson, NoTransitionIsNull) {
  const nlohmann::json j = task_scan_to_json({}, kTaskPatchIdle, "");
  EXPECT_TRUE(j.at("transition_patch").is_null());
  EXPECT_EQ(j.at("target"), "idle");
  EXPECT_TRUE(j.at("not_at_target").empty());
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
