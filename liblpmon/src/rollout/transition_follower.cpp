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

namespace {

// The outcome so far of a transition the reducer knows: what the follower reports.
TransitionOutcome outcome_of(const bpf::TransitionState& state) {
  TransitionOutcome outcome;
  outcome.finished = state.ended;
  outcome.rounds = state.rounds;
  for (const auto& [pid, task] : state.blockers) {
    outcome.blockers[pid] = {task.pid, task.comm, std::string(bpf::to_string(task.reason)),
                             task.function};
  }
  if (state.ended) {
    outcome.result = state.result;
    outcome.duration = state.duration;
    outcome.kernel_end = state.ended_at;
  }
  return outcome;
}

}  // namespace

void TransitionFollower::on_event(const bpf::TraceEvent& event) {
  if (const auto* transition = std::get_if<bpf::TransitionEvent>(&event)) {
    // A new transition of the patch replaces an end not yet asked for.
    if (transition->kind == bpf::TransitionKind::start ||
        transition->kind == bpf::TransitionKind::in_progress) {
      ended_.erase(transition->patch);
    }
  }
  if (auto ended = reducer_.record(event)) {
    TransitionOutcome outcome = outcome_of(*ended);
    outcome.notice_latency = monotonic_now() - ended->ended_at;
    ended_[ended->patch] = std::move(outcome);
  }
}

TransitionOutcome TransitionFollower::so_far(const std::string& patch) const {
  if (const auto it = ended_.find(patch); it != ended_.end()) return it->second;
  if (const bpf::TransitionState* state = reducer_.find(patch)) return outcome_of(*state);
  return {};
}

std::chrono::nanoseconds TransitionFollower::started(const std::string& patch,
                                                     std::chrono::nanoseconds otherwise) const {
  const bpf::TransitionState* state = reducer_.find(patch);
  return state && state->start_seen ? state->started : otherwise;
}

void TransitionFollower::report(const std::string& patch, std::chrono::nanoseconds elapsed,
                                const TransitionOutcome* ended, bool timed_out) {
  if (!progress_) return;
  TransitionProgress now;
  now.patch = patch;
  now.elapsed = elapsed;
  now.ended = ended;
  now.timed_out = timed_out;
  if (const bpf::TransitionState* state = reducer_.find(patch); state && state->last_round) {
    now.round = state->rounds;
    now.tasks_left = state->last_round->blocked;
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
      if (auto it = ended_.find(patch); it != ended_.end()) {
        TransitionOutcome outcome = std::move(it->second);
        ended_.erase(it);
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
        TransitionOutcome outcome = so_far(patch);
        outcome.duration = monotonic_now() - started(patch, since_monotonic);
        ended_.erase(patch);
        reducer_.forget(patch);
        settle_by_sysfs(state, *result, outcome);
        report(patch, outcome.duration, &outcome);
        return outcome;
      }
    } else {
      sysfs_says_done = 0;
    }
    if (!tracing) std::this_thread::sleep_for(kPollStep);
    const std::chrono::nanoseconds elapsed = monotonic_now() - started(patch, since_monotonic);
    if (Clock::now() >= deadline || (stop_ && stop_())) {
      TransitionOutcome outcome = so_far(patch);
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
