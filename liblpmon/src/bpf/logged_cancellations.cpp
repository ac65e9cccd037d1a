#include "lpmon/bpf/logged_cancellations.hpp"

#include <string_view>
#include <variant>

namespace lpmon::bpf {
namespace {

// The patch name of "livepatch: <before>'<patch>'" (at the end of the message), or empty.
std::string patch_in(std::string_view message, std::string_view before) {
  const std::string_view prefix = "livepatch: ";
  if (!message.starts_with(prefix)) return {};
  message.remove_prefix(prefix.size());
  if (!message.starts_with(before)) return {};
  message.remove_prefix(before.size());
  if (message.size() < 3 || message.front() != '\'' || message.back() != '\'') return {};
  return std::string(message.substr(1, message.size() - 2));
}

}  // namespace

void LoggedCancellations::saw(const TraceEvent& event) {
  const auto* t = std::get_if<TransitionEvent>(&event);
  if (!t) return;
  switch (t->kind) {
    case TransitionKind::start:
    case TransitionKind::in_progress:
      probe_in_flight_.insert(t->patch);
      break;
    case TransitionKind::end:
      probe_in_flight_.erase(t->patch);
      if (t->result == TransitionResult::cancelled && ++probe_cancels_[t->patch] == 0) {
        probe_cancels_.erase(t->patch);
      }
      break;
    case TransitionKind::reverse:
      break;
  }
}

std::vector<TransitionEvent> LoggedCancellations::from_log(const KernelLogRecord& record) {
  if (std::string patch = patch_in(record.message, "enabling patch "); !patch.empty()) {
    enabling_usec_[patch] = record.usec;
    return {};
  }
  const std::string patch = patch_in(record.message, "failed to enable patch ");
  if (patch.empty()) return {};
  if (probe_cancels_[patch] > 0 || probe_in_flight_.contains(patch)) {
    // The probes reported it, or will: their END is on the way.
    if (--probe_cancels_[patch] == 0) probe_cancels_.erase(patch);
    return {};
  }
  probe_cancels_.erase(patch);
  const auto node = enabling_usec_.extract(patch);
  const std::uint64_t start_usec = node ? node.mapped() : record.usec;
  TransitionEvent start{.timestamp = std::chrono::microseconds(start_usec),
                        .kind = TransitionKind::start,
                        .patching = true,
                        .patch = patch};
  // As the probes report a cancellation: klp_cancel_transition turns the target to unpatched.
  TransitionEvent end{.timestamp = std::chrono::microseconds(record.usec),
                      .duration = std::chrono::microseconds(record.usec - start_usec),
                      .kind = TransitionKind::end,
                      .patching = false,
                      .result = TransitionResult::cancelled,
                      .patch = patch};
  return {start, end};
}

}  // namespace lpmon::bpf
