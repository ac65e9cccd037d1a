#include <linux/types.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "lpmon/bpf/probe.hpp"
#include "lpmon/bpf/transition_tracer.hpp"

extern "C" {
#include "transition.h"
}

namespace lpmon::bpf {
namespace {

template <std::size_t N>
void set_string(char (&field)[N], std::string_view text) {
  std::memcpy(field, text.data(), std::min(text.size(), N));
}

// A record with every field set, as bpf/transition.bpf.c sends it.
lpmon_transition_event raw_event(__u32 kind, __u32 target_state, __u32 result,
                                 std::string_view patch = "livepatch_sample") {
  lpmon_transition_event raw;
  std::memset(&raw, 0, sizeof raw);
  raw.type = LPMON_EVENT_TRANSITION;
  raw.kind = kind;
  raw.target_state = target_state;
  raw.result = result;
  set_string(raw.patch, patch);
  return raw;
}

lpmon_round_event raw_round() {
  lpmon_round_event raw;
  std::memset(&raw, 0, sizeof raw);
  raw.type = LPMON_EVENT_ROUND;
  raw.target_state = LPMON_TARGET_PATCHED;
  set_string(raw.patch, "lpmon_fixes_v2");
  return raw;
}

lpmon_task_blocked_event raw_blocked(__u32 reason, int error) {
  lpmon_task_blocked_event raw;
  std::memset(&raw, 0, sizeof raw);
  raw.type = LPMON_EVENT_TASK_BLOCKED;
  raw.reason = reason;
  raw.error = error;
  raw.target_state = LPMON_TARGET_PATCHED;
  set_string(raw.patch, "lpmon_fixes_v2");
  set_string(raw.comm, "lpmon_park/0");
  return raw;
}

template <typename Raw>
TraceEvent decode(const Raw& raw) {
  return decode_trace_event(&raw, sizeof raw);
}

TransitionEvent decode_transition(const lpmon_transition_event& raw) {
  return std::get<TransitionEvent>(decode(raw));
}

TaskBlockedEvent decode_blocked(const lpmon_task_blocked_event& raw) {
  return std::get<TaskBlockedEvent>(decode(raw));
}

// The BpfError message of decoding `size` bytes at `data`, or "" when it decodes.
std::string decode_error(const void* data, std::size_t size) {
  try {
    decode_trace_event(data, size);
  } catch (const BpfError& error) {
    return error.what();
  }
  return "";
}

template <typename Raw>
std::string decode_error(const Raw& raw) {
  return decode_error(&raw, sizeof raw);
}

TEST(TraceRecordLayout, MatchesTheBpfProgramsWithoutPadding) {
  // Fields are ordered so that neither side adds padding: the C++ and BPF builds agree.
  EXPECT_EQ(sizeof(lpmon_transition_event), 104u);
  EXPECT_EQ(offsetof(lpmon_transition_event, patch), 48u);
  EXPECT_EQ(sizeof(lpmon_round_event), 112u);
  EXPECT_EQ(offsetof(lpmon_round_event, patch), 56u);
  EXPECT_EQ(sizeof(lpmon_task_blocked_event), 504u);
  EXPECT_EQ(offsetof(lpmon_task_blocked_event, stack), 248u);
  // Each record starts with its type.
  EXPECT_EQ(offsetof(lpmon_transition_event, type), 0u);
  EXPECT_EQ(offsetof(lpmon_round_event, type), 0u);
  EXPECT_EQ(offsetof(lpmon_task_blocked_event, type), 0u);
}

TEST(DecodeTransitionEvent, StartEvent) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE);
  raw.timestamp_ns = 123'456'789'012;

  const TransitionEvent event = decode_transition(raw);

  EXPECT_EQ(event.kind, TransitionKind::start);
  EXPECT_TRUE(event.patching);
  EXPECT_EQ(event.result, TransitionResult::none);
  EXPECT_EQ(event.timestamp, std::chrono::nanoseconds(123'456'789'012));
  EXPECT_EQ(event.duration, std::chrono::nanoseconds(0));
  EXPECT_EQ(event.rounds, 0u);
  EXPECT_FALSE(event.began_before_trace);
  EXPECT_EQ(event.switched_at_cond_resched, 0u);
  EXPECT_EQ(event.patch, "livepatch_sample");
}

TEST(DecodeTransitionEvent, EndEventCountsTasksSwitchedAtCondResched) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_END, LPMON_TARGET_PATCHED, LPMON_RESULT_COMPLETE);
  raw.switched_at_cond_resched = 7;

  EXPECT_EQ(decode_transition(raw).switched_at_cond_resched, 7u);
}

TEST(DecodeTransitionEvent, ReverseEventFlipsToUnpatching) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_REVERSE, LPMON_TARGET_UNPATCHED, LPMON_RESULT_NONE);
  raw.rounds = 4;

  const TransitionEvent event = decode_transition(raw);

  EXPECT_EQ(event.kind, TransitionKind::reverse);
  EXPECT_FALSE(event.patching);
  EXPECT_EQ(event.rounds, 4u);
}

TEST(DecodeTransitionEvent, EndEventCarriesDurationAndRounds) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_END, LPMON_TARGET_PATCHED, LPMON_RESULT_COMPLETE);
  raw.timestamp_ns = 5'000'000'000;
  raw.duration_ns = 1'003'456'789;
  raw.rounds = 17;

  const TransitionEvent event = decode_transition(raw);

  EXPECT_EQ(event.kind, TransitionKind::end);
  EXPECT_EQ(event.result, TransitionResult::complete);
  EXPECT_EQ(event.timestamp, std::chrono::seconds(5));
  EXPECT_EQ(event.duration, std::chrono::nanoseconds(1'003'456'789));
  EXPECT_EQ(event.rounds, 17u);
}

TEST(DecodeTransitionEvent, InProgressEventOfATransitionThatBeganBeforeTracing) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_IN_PROGRESS, LPMON_TARGET_UNPATCHED, LPMON_RESULT_NONE);
  raw.flags = LPMON_TRANSITION_ADOPTED;

  const TransitionEvent event = decode_transition(raw);

  EXPECT_EQ(event.kind, TransitionKind::in_progress);
  EXPECT_FALSE(event.patching);
  EXPECT_TRUE(event.began_before_trace);
}

TEST(DecodeTransitionEvent, LargeCountersAreKeptWhole) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_END, LPMON_TARGET_PATCHED, LPMON_RESULT_FORCED);
  raw.timestamp_ns = 0x7fff'ffff'ffff'fff0;
  raw.duration_ns = 0x1'0000'0001;  // above 32 bits
  raw.rounds = 0xffff'ffff;

  const TransitionEvent event = decode_transition(raw);

  EXPECT_EQ(event.timestamp.count(), 0x7fff'ffff'ffff'fff0);
  EXPECT_EQ(event.duration.count(), 0x1'0000'0001);
  EXPECT_EQ(event.rounds, 0xffff'ffffu);
}

TEST(DecodeTransitionEvent, EachResult) {
  const std::array<std::pair<__u32, TransitionResult>, 5> cases{{
      {LPMON_RESULT_NONE, TransitionResult::none},
      {LPMON_RESULT_COMPLETE, TransitionResult::complete},
      {LPMON_RESULT_REVERSED, TransitionResult::reversed},
      {LPMON_RESULT_CANCELLED, TransitionResult::cancelled},
      {LPMON_RESULT_FORCED, TransitionResult::forced},
  }};
  for (const auto& [raw_result, result] : cases) {
    const TransitionEvent event =
        decode_transition(raw_event(LPMON_TRANSITION_END, LPMON_TARGET_UNPATCHED, raw_result));
    EXPECT_EQ(event.result, result) << "raw result " << raw_result;
  }
}

TEST(DecodeTransitionEvent, PatchNameFillingTheWholeFieldIsNotOverrun) {
  const std::string name(LPMON_PATCH_NAME_LEN, 'n');  // 56 bytes, no NUL
  // Non-NUL bytes after the record, where a strlen() past the field would continue.
  std::array<unsigned char, sizeof(lpmon_transition_event) + 16> buffer;
  buffer.fill('x');
  const lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE, name);
  std::memcpy(buffer.data(), &raw, sizeof raw);

  const auto event = std::get<TransitionEvent>(decode_trace_event(buffer.data(), sizeof raw));

  EXPECT_EQ(event.patch, name);
}

TEST(DecodeTransitionEvent, ShortPatchNameStopsAtNul) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE, "lp");
  // The BPF side copies the whole field: an earlier, longer name may follow the NUL.
  std::memcpy(raw.patch + 3, "stale", 5);

  EXPECT_EQ(decode_transition(raw).patch, "lp");
}

TEST(DecodeTransitionEvent, WrongSizeIsAnError) {
  const lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE);
  struct {
    lpmon_transition_event event;
    char extra[8];
  } longer{};
  longer.event = raw;

  EXPECT_EQ(decode_error(&raw, sizeof raw - 1), "transition event of 103 bytes, expected 104");
  EXPECT_EQ(decode_error(longer), "transition event of 112 bytes, expected 104");
  EXPECT_EQ(decode_error(raw), "");
}

TEST(DecodeTransitionEvent, UnknownValuesAreErrors) {
  EXPECT_EQ(decode_error(raw_event(LPMON_TRANSITION_START, 2, LPMON_RESULT_NONE)),
            "transition event with unknown target state 2");
  for (__u32 kind : {0u, 5u, 0xffff'ffffu}) {
    EXPECT_EQ(decode_error(raw_event(kind, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE)),
              "transition event of unknown kind " + std::to_string(kind));
  }
  for (__u32 result : {5u, 0xffff'ffffu}) {
    EXPECT_EQ(decode_error(raw_event(LPMON_TRANSITION_END, LPMON_TARGET_PATCHED, result)),
              "transition event with unknown result " + std::to_string(result));
  }
}

TEST(DecodeTraceEvent, TypeSelectsTheRecord) {
  EXPECT_TRUE(std::holds_alternative<TransitionEvent>(
      decode(raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE))));
  EXPECT_TRUE(std::holds_alternative<RoundEvent>(decode(raw_round())));
  EXPECT_TRUE(
      std::holds_alternative<TaskBlockedEvent>(decode(raw_blocked(LPMON_BLOCK_RUNNING, -16))));
}

TEST(DecodeTraceEvent, UnknownTypeOrNoTypeIsAnError) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE);
  raw.type = 9;
  EXPECT_EQ(decode_error(raw), "trace record of unknown type 9");
  EXPECT_EQ(decode_error(&raw, 3), "trace record of 3 bytes has no type");
  // A round record's size under the task_blocked type.
  lpmon_round_event round = raw_round();
  round.type = LPMON_EVENT_TASK_BLOCKED;
  EXPECT_EQ(decode_error(round), "task_blocked event of 112 bytes, expected 504");
  EXPECT_THROW(decode(raw), BpfError);
}

TEST(DecodeRoundEvent, CarriesEveryCount) {
  lpmon_round_event raw = raw_round();
  raw.timestamp_ns = 7'000'000'000;
  raw.round = 3;
  raw.switched = 1;
  raw.blocked = 6;
  raw.running = 1;
  raw.unreliable_stack = 1;
  raw.sleeping_in_function = 3;
  raw.other = 1;
  raw.reported = 2;
  raw.unreported = 4;
  raw.transition_flags = LPMON_TRANSITION_ADOPTED;

  const RoundEvent event = std::get<RoundEvent>(decode(raw));

  EXPECT_EQ(event.timestamp, std::chrono::seconds(7));
  EXPECT_EQ(event.patch, "lpmon_fixes_v2");
  EXPECT_TRUE(event.patching);
  EXPECT_EQ(event.round, 3u);
  EXPECT_TRUE(event.began_before_trace);
  EXPECT_EQ(event.switched, 1u);
  EXPECT_EQ(event.blocked, 6u);
  EXPECT_EQ(event.running, 1u);
  EXPECT_EQ(event.unreliable_stack, 1u);
  EXPECT_EQ(event.sleeping_in_function, 3u);
  EXPECT_EQ(event.other, 1u);
  EXPECT_EQ(event.reported, 2u);
  EXPECT_EQ(event.unreported, 4u);
}

TEST(DecodeTaskBlockedEvent, SleepingTaskWithFunctionAndStack) {
  lpmon_task_blocked_event raw = raw_blocked(LPMON_BLOCK_SLEEPING_IN_FUNCTION, -98);
  raw.timestamp_ns = 9'000'000'000;
  raw.pid = 97;
  raw.tgid = 97;
  raw.round = 2;
  raw.flags = LPMON_TASK_KTHREAD;
  raw.task_state = 0x402;  // TASK_IDLE
  set_string(raw.function, "lpmon_target_wait_released");
  raw.stack_frames = 3;
  raw.stack[0] = 0xffff'ffff'8100'0010;
  raw.stack[1] = 0xffff'ffff'c0a0'1020;
  raw.stack[2] = 0xffff'ffff'8100'0030;
  raw.stack[3] = 0xdead;  // beyond stack_frames

  const TaskBlockedEvent event = decode_blocked(raw);

  EXPECT_EQ(event.timestamp, std::chrono::seconds(9));
  EXPECT_EQ(event.patch, "lpmon_fixes_v2");
  EXPECT_TRUE(event.patching);
  EXPECT_EQ(event.round, 2u);
  EXPECT_EQ(event.reason, BlockReason::sleeping_in_function);
  EXPECT_EQ(event.error, -98);
  EXPECT_EQ(event.pid, 97);
  EXPECT_EQ(event.tgid, 97);
  EXPECT_EQ(event.comm, "lpmon_park/0");
  EXPECT_TRUE(event.kthread);
  EXPECT_EQ(event.state, 'I');
  EXPECT_EQ(event.function, "lpmon_target_wait_released");
  EXPECT_EQ(event.stack_error, 0);
  ASSERT_EQ(event.stack.size(), 3u);
  EXPECT_EQ(event.stack[1].address, 0xffff'ffff'c0a0'1020u);
  EXPECT_EQ(event.stack[1].symbol, "");  // the tracer symbolizes, the decoder does not
}

TEST(DecodeTaskBlockedEvent, EachReason) {
  const std::array<std::pair<__u32, BlockReason>, 4> cases{{
      {LPMON_BLOCK_RUNNING, BlockReason::running},
      {LPMON_BLOCK_UNRELIABLE_STACK, BlockReason::unreliable_stack},
      {LPMON_BLOCK_SLEEPING_IN_FUNCTION, BlockReason::sleeping_in_function},
      {LPMON_BLOCK_OTHER, BlockReason::other},
  }};
  for (const auto& [raw_reason, reason] : cases) {
    EXPECT_EQ(decode_blocked(raw_blocked(raw_reason, -1)).reason, reason);
  }
  EXPECT_EQ(decode_error(raw_blocked(0, -1)), "task_blocked event with unknown reason 0");
  EXPECT_EQ(decode_error(raw_blocked(5, -1)), "task_blocked event with unknown reason 5");
}

TEST(DecodeTaskBlockedEvent, StackErrorAndOverlongStack) {
  lpmon_task_blocked_event failed = raw_blocked(LPMON_BLOCK_UNRELIABLE_STACK, -22);
  failed.stack_frames = -14;  // -EFAULT from bpf_get_task_stack
  const TaskBlockedEvent no_stack = decode_blocked(failed);
  EXPECT_EQ(no_stack.stack_error, 14);
  EXPECT_TRUE(no_stack.stack.empty());

  lpmon_task_blocked_event overlong = raw_blocked(LPMON_BLOCK_UNRELIABLE_STACK, -22);
  overlong.stack_frames = LPMON_STACK_DEPTH + 5;
  EXPECT_EQ(decode_blocked(overlong).stack.size(), std::size_t{LPMON_STACK_DEPTH});
}

TEST(DecodeTaskBlockedEvent, CommAndFunctionFillingTheirFieldsAreNotOverrun) {
  lpmon_task_blocked_event raw = raw_blocked(LPMON_BLOCK_SLEEPING_IN_FUNCTION, -98);
  std::memset(raw.comm, 'c', sizeof raw.comm);
  std::memset(raw.function, 'f', sizeof raw.function);

  const TaskBlockedEvent event = decode_blocked(raw);

  EXPECT_EQ(event.comm, std::string(LPMON_COMM_LEN, 'c'));
  EXPECT_EQ(event.function, std::string(LPMON_FUNC_NAME_LEN, 'f'));
  EXPECT_EQ(event.patch, "lpmon_fixes_v2");
}

TEST(TaskStateLetter, MatchesProcStatus) {
  EXPECT_EQ(task_state_letter(0x0), 'R');
  EXPECT_EQ(task_state_letter(0x1), 'S');
  EXPECT_EQ(task_state_letter(0x2), 'D');
  EXPECT_EQ(task_state_letter(0x4), 'T');
  EXPECT_EQ(task_state_letter(0x8), 't');
  EXPECT_EQ(task_state_letter(0x40), 'P');
  EXPECT_EQ(task_state_letter(0x402), 'I');        // TASK_IDLE
  EXPECT_EQ(task_state_letter(0x1000), 'D');       // TASK_RTLOCK_WAIT
  EXPECT_EQ(task_state_letter(0x2001), 'S');       // TASK_FREEZABLE | TASK_INTERRUPTIBLE
  EXPECT_EQ(task_state_letter(0x2402), 'D');       // freezable idle is not TASK_IDLE exactly
  EXPECT_EQ(task_state_letter(0x100 | 0x2), 'D');  // TASK_KILLABLE
}

TEST(TraceNames, KindsResultsAndReasons) {
  EXPECT_EQ(to_string(TransitionKind::start), "start");
  EXPECT_EQ(to_string(TransitionKind::reverse), "reverse");
  EXPECT_EQ(to_string(TransitionKind::end), "end");
  EXPECT_EQ(to_string(TransitionKind::in_progress), "in_progress");
  EXPECT_EQ(to_string(TransitionResult::none), "none");
  EXPECT_EQ(to_string(TransitionResult::complete), "complete");
  EXPECT_EQ(to_string(TransitionResult::reversed), "reversed");
  EXPECT_EQ(to_string(TransitionResult::cancelled), "cancelled");
  EXPECT_EQ(to_string(TransitionResult::forced), "forced");
  EXPECT_EQ(to_string(BlockReason::running), "running");
  EXPECT_EQ(to_string(BlockReason::unreliable_stack), "unreliable_stack");
  EXPECT_EQ(to_string(BlockReason::sleeping_in_function), "sleeping_in_function");
  EXPECT_EQ(to_string(BlockReason::other), "other");
}

TEST(TraceNames, ReasonsForPeopleFollowTheDirection) {
  EXPECT_EQ(describe(BlockReason::sleeping_in_function, true),
            "sleeping in a to-be-patched function");
  EXPECT_EQ(describe(BlockReason::sleeping_in_function, false),
            "sleeping in a to-be-unpatched function");
  EXPECT_EQ(describe(BlockReason::running, true), "running on another CPU");
  EXPECT_EQ(describe(BlockReason::unreliable_stack, false), "its stack is unreliable");
}

}  // namespace
}  // namespace lpmon::bpf
