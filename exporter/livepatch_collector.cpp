#include "livepatch_collector.hpp"

#include <chrono>
#include <cstddef>
#include <exception>
#include <string>
#include <utility>

#include "lpmon/errors.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily gauge_family(std::string name, std::string help) {
  return MetricFamily{std::move(name), std::move(help), MetricType::Gauge, {}};
}

void add_gauge(MetricFamily& family, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

}  // namespace

LivepatchCollector::LivepatchCollector(KernelPaths paths, std::string version)
    : paths_(std::move(paths)), version_(std::move(version)) {}

std::vector<MetricFamily> LivepatchCollector::Collect() const {
  const auto started = std::chrono::steady_clock::now();
  std::size_t read_errors = 0;
  std::vector<MetricFamily> families;

  auto build =
      gauge_family("lpmon_exporter_build_info", "lpmon-exporter's version; the value is always 1.");
  add_gauge(build, 1, {{"version", version_}});
  families.push_back(std::move(build));

  try {
    auto kernel = gauge_family("lpmon_kernel_info", "The running kernel's release; always 1.");
    add_gauge(kernel, 1, {{"release", kernel_release(paths_)}});
    families.push_back(std::move(kernel));
  } catch (const KernelError&) {
    ++read_errors;
  }

  try {
    const Taint taint = read_taint(paths_);
    auto tainted = gauge_family("lpmon_kernel_tainted",
                                "Whether the kernel carries each taint flag (1) or not (0).");
    for (const TaintFlag& flag : known_taint_flags()) {
      add_gauge(tainted, (taint.mask >> flag.bit) & 1,
                {{"flag", std::string(flag.name)}, {"letter", std::string(1, flag.letter)}});
    }
    families.push_back(std::move(tainted));
  } catch (const KernelError&) {
    ++read_errors;
  }

  const bool supported = livepatch_supported(paths_);
  auto supported_family = gauge_family("lpmon_livepatch_supported",
                                       "Whether the kernel supports livepatch (CONFIG_LIVEPATCH).");
  add_gauge(supported_family, supported ? 1 : 0);
  families.push_back(std::move(supported_family));

  if (supported) {
    auto enabled = gauge_family("lpmon_patch_enabled", "Whether the livepatch is enabled.");
    auto info = gauge_family("lpmon_patch_info",
                             "A loaded livepatch's module version and the CVEs it fixes (from "
                             "lpmon build's metadata; empty for other patches); always 1.");
    auto transition = gauge_family("lpmon_patch_in_transition",
                                   "Whether the livepatch's transition is in progress.");
    auto replace = gauge_family("lpmon_patch_replace",
                                "Whether the livepatch atomically replaces the patches before it "
                                "(only on kernels that show it).");
    auto stack_order = gauge_family("lpmon_patch_stack_order",
                                    "The livepatch's place in the stack of patches on a function, "
                                    "1 the oldest (only on kernels that show it, 6.13+).");
    auto functions = gauge_family("lpmon_patch_functions",
                                  "Functions the livepatch redirects, over all objects.");
    auto pending =
        gauge_family("lpmon_transition_pending_tasks",
                     "Tasks not yet switched to the target state of the transition in progress.");
    auto tasks = gauge_family("lpmon_transition_tasks",
                              "Tasks by livepatch state during a transition (idle, unpatched, "
                              "patched); absent when no transition runs and every task is idle.");
    try {
      const std::vector<LivepatchPatch> patches = read_patches(paths_, &patch_cache_);
      if (const auto progress = transition_progress(paths_, patches)) {
        add_gauge(pending, static_cast<double>(progress->tasks.not_at_target.size()),
                  {{"patch", progress->patch}});
        add_gauge(tasks, static_cast<double>(progress->tasks.idle), {{"state", "idle"}});
        add_gauge(tasks, static_cast<double>(progress->tasks.unpatched), {{"state", "unpatched"}});
        add_gauge(tasks, static_cast<double>(progress->tasks.patched), {{"state", "patched"}});
      }
      for (const LivepatchPatch& patch : patches) {
        read_errors += patch.errors.size();
        // Fields that could not be read hold defaults: publishing them would show a stuck
        // transition as "not in transition". The patch shows up in the read errors instead.
        if (!patch.errors.empty()) continue;
        const std::vector<ClientMetric::Label> labels{{"patch", patch.name}};
        add_gauge(enabled, patch.enabled, labels);
        std::string cves;
        for (const auto& cve : patch.cves) cves += (cves.empty() ? "" : ",") + cve;
        add_gauge(info, 1,
                  {{"patch", patch.name}, {"version", patch.version.value_or("")}, {"cves", cves}});
        add_gauge(transition, patch.transition, labels);
        if (patch.replace) add_gauge(replace, *patch.replace, labels);
        if (patch.stack_order) add_gauge(stack_order, *patch.stack_order, labels);
        std::size_t count = 0;
        for (const LivepatchObject& object : patch.objects) count += object.funcs.size();
        add_gauge(functions, static_cast<double>(count), labels);
      }
    } catch (const KernelError&) {
      ++read_errors;
    }
    for (auto* family :
         {&enabled, &info, &transition, &replace, &stack_order, &functions, &pending, &tasks}) {
      families.push_back(std::move(*family));
    }
  }

  auto errors =
      gauge_family("lpmon_scrape_read_errors", "Kernel files this scrape could not read or parse.");
  add_gauge(errors, static_cast<double>(read_errors));
  families.push_back(std::move(errors));

  auto duration =
      gauge_family("lpmon_scrape_duration_seconds", "Time this scrape spent reading the kernel.");
  add_gauge(duration,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  families.push_back(std::move(duration));
  return families;
}

}  // namespace lpmon::exporter
