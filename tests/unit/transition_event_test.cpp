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

// A record with every field set, as bpf/transition.bpf.c sends it.
lpmon_transition_event raw_event(__u32 kind, __u32 target_state, __u32 result,
                                 std::string_view patch = "livepatch_sample") {
  lpmon_transition_event raw;
  std::memset(&raw, 0, sizeof raw);
  raw.kind = kind;
  raw.target_state = target_state;
  raw.result = result;
  std::memcpy(raw.patch, patch.data(), std::min(patch.size(), sizeof raw.patch));
  return raw;
}

TransitionEvent decode(const lpmon_transition_event& raw) {
  return decode_transition_event(&raw, sizeof raw);
}

// The BpfError message of decoding `size` bytes of `raw`, or "" when it decodes.
std::string decode_error(const lpmon_transition_event& raw, std::size_t size) {
  try {
    decode_transition_event(&raw, size);
  } catch (const BpfError& error) {
    return error.what();
  }
  return "";
}

TEST(DecodeTransitionEvent, RecordMatchesTheBpfProgramsLayout) {
  // 2 x u64, 4 x u32 and the module name: no padding, so the C++ and BPF sides agree.
  EXPECT_EQ(sizeof(lpmon_transition_event), 88u);
  EXPECT_EQ(offsetof(lpmon_transition_event, patch), 32u);
}

TEST(DecodeTransitionEvent, StartEvent) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE);
  raw.timestamp_ns = 123'456'789'012;
  raw.rounds = 0;

  const TransitionEvent event = decode(raw);

  EXPECT_EQ(event.kind, TransitionKind::start);
  EXPECT_TRUE(event.patching);
  EXPECT_EQ(event.result, TransitionResult::none);
  EXPECT_EQ(event.timestamp, std::chrono::nanoseconds(123'456'789'012));
  EXPECT_EQ(event.duration, std::chrono::nanoseconds(0));
  EXPECT_EQ(event.rounds, 0u);
  EXPECT_EQ(event.patch, "livepatch_sample");
}

TEST(DecodeTransitionEvent, ReverseEventFlipsToUnpatching) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_REVERSE, LPMON_TARGET_UNPATCHED, LPMON_RESULT_NONE);
  raw.rounds = 4;

  const TransitionEvent event = decode(raw);

  EXPECT_EQ(event.kind, TransitionKind::reverse);
  EXPECT_FALSE(event.patching);
  EXPECT_EQ(event.result, TransitionResult::none);
  EXPECT_EQ(event.rounds, 4u);
}

TEST(DecodeTransitionEvent, EndEventCarriesDurationAndRounds) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_END, LPMON_TARGET_PATCHED, LPMON_RESULT_COMPLETE);
  raw.timestamp_ns = 5'000'000'000;
  raw.duration_ns = 1'003'456'789;
  raw.rounds = 17;

  const TransitionEvent event = decode(raw);

  EXPECT_EQ(event.kind, TransitionKind::end);
  EXPECT_TRUE(event.patching);
  EXPECT_EQ(event.result, TransitionResult::complete);
  EXPECT_EQ(event.timestamp, std::chrono::seconds(5));
  EXPECT_EQ(event.duration, std::chrono::nanoseconds(1'003'456'789));
  EXPECT_EQ(event.rounds, 17u);
}

TEST(DecodeTransitionEvent, LargeCountersAreKeptWhole) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_END, LPMON_TARGET_PATCHED, LPMON_RESULT_FORCED);
  raw.timestamp_ns = 0x7fff'ffff'ffff'fff0;
  raw.duration_ns = 0x1'0000'0001;  // above 32 bits
  raw.rounds = 0xffff'ffff;

  const TransitionEvent event = decode(raw);

  EXPECT_EQ(event.timestamp.count(), 0x7fff'ffff'ffff'fff0);
  EXPECT_EQ(event.duration.count(), 0x1'0000'0001);
  EXPECT_EQ(event.rounds, 0xffff'ffffu);
}

TEST(DecodeTransitionEvent, TargetStateGivesDirection) {
  EXPECT_TRUE(
      decode(raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE)).patching);
  EXPECT_FALSE(decode(raw_event(LPMON_TRANSITION_START, LPMON_TARGET_UNPATCHED, LPMON_RESULT_NONE))
                   .patching);
  EXPECT_EQ(LPMON_TARGET_PATCHED, 1);
  EXPECT_EQ(LPMON_TARGET_UNPATCHED, 0);
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
        decode(raw_event(LPMON_TRANSITION_END, LPMON_TARGET_UNPATCHED, raw_result));
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

  const TransitionEvent event = decode_transition_event(buffer.data(), sizeof raw);

  EXPECT_EQ(event.patch.size(), 56u);
  EXPECT_EQ(event.patch, name);
}

TEST(DecodeTransitionEvent, ShortPatchNameStopsAtNul) {
  lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE, "lp");
  // The BPF side copies the whole field: an earlier, longer name may follow the NUL.
  std::memcpy(raw.patch + 3, "stale", 5);

  const TransitionEvent event = decode(raw);

  EXPECT_EQ(event.patch, "lp");
}

TEST(DecodeTransitionEvent, EmptyPatchName) {
  EXPECT_EQ(
      decode(raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE, "")).patch,
      "");
}

TEST(DecodeTransitionEvent, TooShortRecordIsAnError) {
  const lpmon_transition_event raw =
      raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE);

  EXPECT_EQ(decode_error(raw, sizeof raw - 1), "transition event of 87 bytes, expected 88");
  EXPECT_EQ(decode_error(raw, 0), "transition event of 0 bytes, expected 88");
  EXPECT_EQ(decode_error(raw, sizeof raw), "");
}

TEST(DecodeTransitionEvent, LongerRecordFromAnotherBuildIsAnError) {
  struct {
    lpmon_transition_event event;
    char extra[8];
  } longer{};
  longer.event = raw_event(LPMON_TRANSITION_START, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE);

  EXPECT_EQ(decode_error(longer.event, sizeof longer), "transition event of 96 bytes, expected 88");
}

TEST(DecodeTransitionEvent, UnknownTargetStateIsAnError) {
  const lpmon_transition_event raw = raw_event(LPMON_TRANSITION_START, 2, LPMON_RESULT_NONE);

  EXPECT_EQ(decode_error(raw, sizeof raw), "transition event with unknown target state 2");
}

TEST(DecodeTransitionEvent, UnknownKindIsAnError) {
  for (__u32 kind : {0u, 4u, 0xffff'ffffu}) {
    const lpmon_transition_event raw = raw_event(kind, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE);
    EXPECT_EQ(decode_error(raw, sizeof raw),
              "transition event of unknown kind " + std::to_string(kind));
  }
}

TEST(DecodeTransitionEvent, UnknownResultIsAnError) {
  for (__u32 result : {5u, 0xffff'ffffu}) {
    const lpmon_transition_event raw =
        raw_event(LPMON_TRANSITION_END, LPMON_TARGET_PATCHED, result);
    EXPECT_EQ(decode_error(raw, sizeof raw),
              "transition event with unknown result " + std::to_string(result));
  }
}

TEST(DecodeTransitionEvent, ErrorsAreBpfErrors) {
  const lpmon_transition_event raw = raw_event(9, LPMON_TARGET_PATCHED, LPMON_RESULT_NONE);
  EXPECT_THROW(decode(raw), BpfError);
  EXPECT_THROW(decode_transition_event(&raw, 8), BpfError);
  const lpmon_transition_event bad_result = raw_event(LPMON_TRANSITION_END, 1, 6);
  EXPECT_THROW(decode(bad_result), BpfError);
}

TEST(TransitionNames, Kinds) {
  EXPECT_EQ(to_string(TransitionKind::start), "start");
  EXPECT_EQ(to_string(TransitionKind::reverse), "reverse");
  EXPECT_EQ(to_string(TransitionKind::end), "end");
}

TEST(TransitionNames, Results) {
  EXPECT_EQ(to_string(TransitionResult::none), "none");
  EXPECT_EQ(to_string(TransitionResult::complete), "complete");
  EXPECT_EQ(to_string(TransitionResult::reversed), "reversed");
  EXPECT_EQ(to_string(TransitionResult::cancelled), "cancelled");
  EXPECT_EQ(to_string(TransitionResult::forced), "forced");
}

}  // namespace
}  // namespace lpmon::bpf
