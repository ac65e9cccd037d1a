#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lpmon::gate {

// Phases as in Argo Rollouts, ordered from best to worst: a gate's verdict is its worst check.
// skipped and terminated are for checks that did not decide: local checks where no host data
// is at hand (lpmon gate), and checks cut short because another one failed.
enum class Phase { successful, inconclusive, error, failed, skipped, terminated };

std::string_view to_string(Phase phase);  // "Successful", "Inconclusive", ...

// Whether `candidate` is a worse verdict than `current` (both among the first four).
constexpr bool is_worse(Phase candidate, Phase current) {
  return static_cast<int>(candidate) > static_cast<int>(current);
}

// One measurement's outcome, before the engine counts it against the limits.
struct Evaluation {
  Phase phase = Phase::error;
  std::vector<double> value;  // what the conditions saw as `result`
  std::string message;        // why, when it is not a success
};

}  // namespace lpmon::gate
