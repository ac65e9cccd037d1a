#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lpmon/gate/duration.hpp"
#include "lpmon/gate/measurement.hpp"

namespace lpmon::gate {

// The checks a gate runs on the patched host itself (lpmon apply), from kernel data rather
// than Prometheus. Each kind has a fixed condition; docs/gate.md lists them.
struct LocalCheck {
  enum class Kind {
    transition_finished,  // the patch's transition finished within `within`
    no_blocking_tasks,    // no task is keeping the transition from finishing
    no_new_taint,         // no taint appeared but the allowed ones, and nothing was WARNed/oopsed
    call_overhead,        // patched calls cost at most `max_overhead` more than unpatched ones
  };
  Kind kind = Kind::transition_finished;
  Duration within{0};               // transition_finished
  std::uint64_t allowed_taint = 0;  // no_new_taint: taint bits that may appear
  double max_overhead = 0;          // call_overhead: as a ratio, 0.05 for 5 %
};

const char* to_string(LocalCheck::Kind kind);  // "transitionFinished", ...

// The taint a livepatch itself brings: K (livepatch), and O and E as patch modules are built
// out of tree and are often unsigned. no_new_taint allows these unless told otherwise.
std::uint64_t livepatch_taint_mask();

// A task the transition waits for (it sleeps in a function being patched).
struct BlockingTask {
  int pid = 0;
  std::string comm;
};

// What the host saw of one patch being applied, as lpmon apply gathers it from liblpmon's
// readers and tracer. Fields it could not gather stay empty, and the checks that need them
// are Inconclusive, never Successful.
struct LocalObservation {
  // How long the transition took, or has taken so far while `transition_finished` is false.
  std::optional<Duration> transition_duration;
  bool transition_finished = false;
  std::optional<std::vector<BlockingTask>> blocking_tasks;  // empty list: none blocks
  std::optional<std::uint64_t> taint_before;  // /proc/sys/kernel/tainted before the patch
  std::optional<std::uint64_t> taint_after;
  // WARNING, BUG and Oops reports the kernel logged since the patch was applied.
  std::optional<unsigned> kernel_warnings;
  // (patched call time - unpatched call time) / unpatched call time, over patched functions.
  std::optional<double> call_overhead;
};

// Where local checks get their data: lpmon apply implements it from the kernel. It may throw
// (a read failed); the measurement is then an Error.
class LocalSource {
 public:
  virtual ~LocalSource() = default;
  virtual LocalObservation observe() = 0;
};

// Decides one local check from one observation. value is what was measured: the transition's
// duration in seconds; the number of blocking tasks; the number of new taint flags not allowed
// and of warnings logged; or the overhead ratio.
Evaluation evaluate_local_check(const LocalCheck& check, const LocalObservation& observation);

}  // namespace lpmon::gate
