#include "transition_follower.hpp"

#include <time.h>

#include <cstdio>
#include <system_error>
#include <thread>
#include <variant>

#include "lpmon/bpf/probe.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kPollStep{100};

std::string seconds_text(std::chrono::nanoseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
  return text;
}

}  // namespace

std::chrono::nanoseconds monotonic_now() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

TransitionFollower::TransitionFollower(const KernelPaths& paths, std::ostream& progress,
                                       bool terminal)
    : paths_(paths), progress_(progress), terminal_(terminal) {
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

void TransitionFollower::show_progress(const std::string& patch, std::chrono::nanoseconds elapsed,
                                       const TransitionOutcome* ended) {
  std::string line = "lpmon: " + patch + ": transition ";
  std::string state;  // what a log line is printed for: a change, not every 100 ms
  if (ended) {
    line += std::string(bpf::to_string(ended->result)) + " after " + seconds_text(elapsed) + ", " +
            std::to_string(ended->rounds) + " round(s)";
  } else {
    line += "running, " + seconds_text(elapsed);
    if (const auto blocked = last_blocked_.find(patch); blocked != last_blocked_.end()) {
      state = "round " + std::to_string(seen_[patch].rounds) + ": " +
              std::to_string(blocked->second) + " task(s) left";
      line += ", " + state;
    }
  }
  if (terminal_) {
    progress_ << '\r' << line << "\033[K" << (ended ? "\n" : "");
    progress_.flush();
    return;
  }
  if (!ended && state == last_progress_) return;
  last_progress_ = state;
  progress_ << line << '\n';
  progress_.flush();
}

TransitionOutcome TransitionFollower::wait(const std::string& patch, Clock::time_point since,
                                           Clock::time_point deadline) {
  last_progress_ = "-";  // the first line is always shown
  const std::chrono::nanoseconds since_monotonic =
      monotonic_now() - std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since);
  int sysfs_says_done = 0;
  for (;;) {
    if (tracer_) {
      tracer_->poll(kPollStep);
      if (auto it = seen_.find(patch); it != seen_.end() && it->second.finished) {
        TransitionOutcome outcome = std::move(it->second);
        seen_.erase(it);
        show_progress(patch, outcome.duration, &outcome);
        return outcome;
      }
      // Events can be lost (a full ring buffer); sysfs has the last word after a grace poll.
      if (!patch_in_transition(paths_, patch)) {
        if (++sysfs_says_done > 5) {
          TransitionOutcome outcome = std::move(seen_[patch]);
          seen_.erase(patch);
          outcome.finished = true;
          outcome.result = bpf::TransitionResult::complete;
          outcome.duration =
              monotonic_now() - started_.try_emplace(patch, since_monotonic).first->second;
          show_progress(patch, outcome.duration, &outcome);
          return outcome;
        }
      } else {
        sysfs_says_done = 0;
      }
    } else {
      if (!patch_in_transition(paths_, patch)) {
        TransitionOutcome outcome;
        outcome.finished = true;
        outcome.result = bpf::TransitionResult::complete;
        outcome.duration = monotonic_now() - since_monotonic;
        show_progress(patch, outcome.duration, &outcome);
        return outcome;
      }
      std::this_thread::sleep_for(kPollStep);
    }
    const auto start = started_.find(patch);
    const std::chrono::nanoseconds elapsed =
        monotonic_now() - (start != started_.end() ? start->second : since_monotonic);
    if (Clock::now() >= deadline) {
      TransitionOutcome outcome = seen_[patch];
      outcome.finished = false;
      outcome.duration = elapsed;
      if (terminal_) progress_ << '\n';
      return outcome;
    }
    show_progress(patch, elapsed, nullptr);
  }
}

}  // namespace lpmon::cli
