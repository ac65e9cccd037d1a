#include "lpmon/gate/local_check.hpp"

#include <bit>
#include <cmath>

#include "lpmon/kernel_info.hpp"

namespace lpmon::gate {
namespace {

std::string seconds(Duration d) {
  return format_duration(d);
}

std::string percent(double ratio) {
  const double value = std::round(ratio * 1000) / 10;
  std::string text = std::to_string(value);
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text + "%";
}

Evaluation transition_finished(const LocalCheck& check, const LocalObservation& seen) {
  if (!seen.transition_duration) return {Phase::inconclusive, {}, "no transition was observed"};
  const Duration took = *seen.transition_duration;
  std::vector<double> value{std::chrono::duration<double>(took).count()};
  if (seen.transition_finished) {
    if (took <= check.within) return {Phase::successful, value, ""};
    return {Phase::failed, value,
            "the transition took " + seconds(took) + ", more than " + seconds(check.within)};
  }
  if (took > check.within) {
    return {Phase::failed, value,
            "the transition is still running after " + seconds(took) + ", more than " +
                seconds(check.within)};
  }
  return {Phase::inconclusive, value,
          "the transition is still running after " + seconds(took) + " (limit " +
              seconds(check.within) + ")"};
}

Evaluation no_blocking_tasks(const LocalObservation& seen) {
  if (!seen.blocking_tasks) return {Phase::inconclusive, {}, "the tasks were not observed"};
  const std::vector<BlockingTask>& blocking = *seen.blocking_tasks;
  std::vector<double> value{static_cast<double>(blocking.size())};
  if (blocking.empty()) return {Phase::successful, value, ""};
  std::string tasks;
  constexpr std::size_t kShown = 5;
  for (std::size_t i = 0; i < blocking.size() && i < kShown; ++i) {
    tasks += (i ? ", " : "") + std::to_string(blocking[i].pid) + " (" + blocking[i].comm + ")";
  }
  if (blocking.size() > kShown) tasks += ", ...";
  return {Phase::failed, value,
          std::to_string(blocking.size()) + " task(s) block the transition: " + tasks};
}

Evaluation no_new_taint(const LocalCheck& check, const LocalObservation& seen) {
  if (!seen.taint_before || !seen.taint_after || !seen.kernel_warnings) {
    return {Phase::inconclusive, {}, "the kernel's taint or log was not observed"};
  }
  const std::uint64_t unexpected = *seen.taint_after & ~*seen.taint_before & ~check.allowed_taint;
  std::vector<double> value{static_cast<double>(std::popcount(unexpected)),
                            static_cast<double>(*seen.kernel_warnings)};
  std::string problems;
  if (unexpected != 0) {
    std::string names;
    for (const TaintFlag& flag : Taint{unexpected}.flags()) {
      names += (names.empty() ? "" : ", ") + std::string(flag.name) + " (" + flag.letter + ")";
    }
    const std::uint64_t unknown = Taint{unexpected}.unknown_bits();
    if (unknown != 0) names += (names.empty() ? "" : ", ") + std::string("unknown bits");
    problems = "new taint: " + names;
  }
  if (*seen.kernel_warnings > 0) {
    problems += (problems.empty() ? "" : "; ") + std::to_string(*seen.kernel_warnings) +
                " kernel warning/BUG/Oops report(s) logged";
  }
  if (problems.empty()) return {Phase::successful, value, ""};
  return {Phase::failed, value, problems};
}

Evaluation call_overhead(const LocalCheck& check, const LocalObservation& seen) {
  if (!seen.call_overhead || std::isnan(*seen.call_overhead)) {
    return {Phase::inconclusive, {}, "the patched calls' overhead was not measured"};
  }
  const double overhead = *seen.call_overhead;
  if (overhead <= check.max_overhead) return {Phase::successful, {overhead}, ""};
  return {
      Phase::failed,
      {overhead},
      "patched calls cost " + percent(overhead) + " more, above " + percent(check.max_overhead)};
}

}  // namespace

const char* to_string(LocalCheck::Kind kind) {
  switch (kind) {
    case LocalCheck::Kind::transition_finished:
      return "transitionFinished";
    case LocalCheck::Kind::no_blocking_tasks:
      return "noBlockingTasks";
    case LocalCheck::Kind::no_new_taint:
      return "noNewTaint";
    case LocalCheck::Kind::call_overhead:
      return "callOverhead";
  }
  return "?";
}

std::uint64_t livepatch_taint_mask() {
  std::uint64_t mask = 0;
  for (const TaintFlag& flag : known_taint_flags()) {
    if (flag.name == "livepatch" || flag.name == "oot_module" || flag.name == "unsigned_module") {
      mask |= std::uint64_t{1} << flag.bit;
    }
  }
  return mask;
}

Evaluation evaluate_local_check(const LocalCheck& check, const LocalObservation& observation) {
  switch (check.kind) {
    case LocalCheck::Kind::transition_finished:
      return transition_finished(check, observation);
    case LocalCheck::Kind::no_blocking_tasks:
      return no_blocking_tasks(observation);
    case LocalCheck::Kind::no_new_taint:
      return no_new_taint(check, observation);
    case LocalCheck::Kind::call_overhead:
      return call_overhead(check, observation);
  }
  return {Phase::error, {}, "unknown local check"};
}

}  // namespace lpmon::gate
