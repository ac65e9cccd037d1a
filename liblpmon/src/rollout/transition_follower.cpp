#include "lpmon/rollout/transition_follower.hpp"

#include <time.h>

#include <cstdio>
#include <system_error>
#include <thread>
#include <variant>

#include "lpmon/bpf/probe.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/livepatch_state.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::rollout {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kPollStep{100};

}  // namespace

std::optional<bpf::TransitionResult> sysfs_result(const PatchTransitionState& state,
                                                  bool patching) {
  using Presence = PatchTransitionState::Presence;
  switch (state.presence) {
    case Presence::unreadable:
      return std::nullopt;
    case Presence::gone:
      // klp frees a patch when its unpatching transition ends; a patch being applied that
      // vanishes ended in a way sysfs no longer shows.
      return patching ? bpf::TransitionResult::none : bpf::TransitionResult::complete;
    case Presence::present:
      if (state.transition) return std::nullopt;
      return state.enabled == patching ? bpf::TransitionResult::complete
                                       : bpf::TransitionResult::reversed;
  }
  return std::nullopt;
}

TransitionFollower::TransitionFollower(const KernelPaths& paths, ProgressHandler progress,
                                       bool use_bpf)
    : paths_(paths), progress_(std::move(progress)) {
  if (!use_bpf) {
    fallback_reason_ = "BPF not requested";
    return;
  }
  try {
    tracer_ = std::make_unique<bpf::TransitionTracer>(
        [this](const bpf::TraceEvent& event) { on_event(event); }, paths_,
        bpf::TracerOptions{.blocked_tasks = true});
  } catch (const LivepatchUnsupportedError&) {
    throw;
  } catch (const std::exception& error) {
    fallback_reason_ = error.what();
  }
}

TransitionFollower::~TransitionFollower() = default;

std::string TransitionFollower::method() const {
  return tracer_ ? "bpf" : "sysfs-poll";
}

void TransitionFollower::on_event(const bpf::TraceEvent& event) {
  if (const auto* transition = std::get_if<bpf::TransitionEvent>(&event)) {
    TransitionOutcome& outcome = seen_[transition->patch];
    switch (transition->kind) {
      case bpf::TransitionKind::start:
      case bpf::TransitionKind::in_progress:
        outcome = TransitionOutcome{};
        started_[transition->patch] = transition->timestamp;
        last_blocked_.erase(transition->patch);
        break;
      case bpf::TransitionKind::reverse:
        break;
      case bpf::TransitionKind::end:
        outcome.finished = true;
        outcome.result = transition->result;
        outcome.duration = transition->duration;
        outcome.rounds = transition->rounds;
        outcome.kernel_end = transition->timestamp;
        outcome.notice_latency = monotonic_now() - transition->timestamp;
        break;
    }
  } else if (const auto* round = std::get_if<bpf::RoundEvent>(&event)) {
    seen_[round->patch].rounds = round->round;
    last_blocked_[round->patch] = round->blocked;
  } else if (const auto* blocked = std::get_if<bpf::TaskBlockedEvent>(&event)) {
    seen_[blocked->patch].blockers[blocked->pid] = {blocked->pid, blocked->comm,
                                                    std::string(bpf::to_string(blocked->reason)),
                                                    blocked->function};
  }
}

void TransitionFollower::report(const std::string& patch, std::chrono::nanoseconds elapsed,
                                const TransitionOutcome* ended, bool timed_out) {
  if (!progress_) return;
  TransitionProgress now;
  now.patch = patch;
  now.elapsed = elapsed;
  now.ended = ended;
  now.timed_out = timed_out;
  if (const auto blocked = last_blocked_.find(patch); blocked != last_blocked_.end()) {
    now.round = seen_[patch].rounds;
    now.tasks_left = blocked->second;
  }
  progress_(now);
}

namespace {

// The outcome sysfs gives (sysfs_result), with what is wrong about it.
void settle_by_sysfs(const PatchTransitionState& state, bpf::TransitionResult result,
                     TransitionOutcome& outcome) {
  outcome.finished = true;
  outcome.result = result;
  if (result == bpf::TransitionResult::none) {
    outcome.problem = "the patch vanished from sysfs before its transition was seen to end";
  } else if (result == bpf::TransitionResult::reversed) {
    outcome.problem = std::string("the transition ended with the patch ") +
                      (state.enabled ? "enabled" : "disabled") + ": it was reversed";
  }
}

// After the tracer saw the end: `enabled` must be what the direction wants.
void check_enabled_at_end(const KernelPaths& paths, const std::string& patch, bool patching,
                          TransitionOutcome& outcome) {
  if (outcome.result != bpf::TransitionResult::complete &&
      outcome.result != bpf::TransitionResult::forced) {
    return;
  }
  const PatchTransitionState state = read_patch_transition(paths, patch);
  using Presence = PatchTransitionState::Presence;
  if (state.presence == Presence::unreadable) {
    outcome.problem = "the transition ended, but the patch's state cannot be read: " + state.error;
  } else if (patching && state.presence == Presence::gone) {
    outcome.problem = "the transition ended, but the patch has vanished from sysfs";
  } else if (state.presence == Presence::present && !state.transition &&
             state.enabled != patching) {
    outcome.problem = std::string("the transition ended with the patch ") +
                      (state.enabled ? "enabled" : "disabled");
  }
}

}  // namespace

TransitionOutcome TransitionFollower::wait(const std::string& patch, bool patching,
                                           Clock::time_point since, Clock::time_point deadline) {
  const std::chrono::nanoseconds since_monotonic =
      monotonic_now() - std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since);
  int sysfs_says_done = 0;
  std::string unreadable;  // the last reason sysfs could not tell
  for (;;) {
    const bool tracing = tracer_ != nullptr;
    if (tracing) {
      tracer_->poll(kPollStep);
      if (auto it = seen_.find(patch); it != seen_.end() && it->second.finished) {
        TransitionOutcome outcome = std::move(it->second);
        seen_.erase(it);
        check_enabled_at_end(paths_, patch, patching, outcome);
        report(patch, outcome.duration, &outcome);
        return outcome;
      }
    }
    // Without BPF, sysfs decides; with it, events can be lost (a full ring buffer), so sysfs
    // has the last word after a grace of a few polls. An unreadable state decides nothing.
    const PatchTransitionState state = read_patch_transition(paths_, patch);
    if (state.presence == PatchTransitionState::Presence::unreadable) unreadable = state.error;
    if (const auto result = sysfs_result(state, patching)) {
      if (!tracing || ++sysfs_says_done > 5) {
        TransitionOutcome outcome = std::move(seen_[patch]);
        seen_.erase(patch);
        settle_by_sysfs(state, *result, outcome);
        outcome.duration =
            monotonic_now() - (tracing ? started_.try_emplace(patch, since_monotonic).first->second
                                       : since_monotonic);
        report(patch, outcome.duration, &outcome);
        return outcome;
      }
    } else {
      sysfs_says_done = 0;
    }
    if (!tracing) std::this_thread::sleep_for(kPollStep);
    const auto start = started_.find(patch);
    const std::chrono::nanoseconds elapsed =
        monotonic_now() - (start != started_.end() ? start->second : since_monotonic);
    if (Clock::now() >= deadline || (stop_ && stop_())) {
      TransitionOutcome outcome = seen_[patch];
      outcome.finished = false;
      outcome.duration = elapsed;
      if (state.presence == PatchTransitionState::Presence::unreadable) {
        outcome.problem = "sysfs could not tell whether it ended: " + unreadable;
      }
      report(patch, elapsed, nullptr, true);
      return outcome;
    }
    report(patch, elapsed, nullptr);
  }
}

}  // namespace lpmon::rollout
