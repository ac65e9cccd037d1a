#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lpmon/exit_codes.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/kernel_paths.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::cli {

// Everything `lpmon status` shows, gathered before anything is printed.
struct StatusReport {
  std::string kernel_release;
  Taint taint;
  std::vector<LivepatchPatch> patches;
  LivepatchState state = LivepatchState::unknown;
  std::optional<TransitionProgress> transition;
  // During a transition: the first pending tasks in detail, and how long it has run (from
  // the kernel log; nullopt when the log no longer has its start).
  std::vector<PendingTask> pending;
  std::optional<double> transition_seconds;
};

// The effective patch level: the enabled patches, their versions and the CVEs they fix.
struct PatchLevel {
  std::vector<const LivepatchPatch*> patches;
  std::vector<std::string> cves;  // sorted, without duplicates
};
PatchLevel patch_level(const std::vector<LivepatchPatch>& patches);

// Throws LivepatchUnsupportedError without livepatch support, KernelError when the kernel's
// release, taint or livepatch directory cannot be read.
StatusReport build_status_report(const KernelPaths& paths);

ExitCode status_exit_code(LivepatchState state);

nlohmann::json status_to_json(const StatusReport& report);

// The human-readable report, one aligned "Label: value" per line.
std::string render_status_text(const StatusReport& report);

}  // namespace lpmon::cli
