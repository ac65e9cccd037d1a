#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "lpmon/kernel_paths.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::exporter {

// Builds the livepatch metric families from sysfs and procfs at scrape time (no polling
// loop): what Prometheus sees is what the kernel says at that moment. Only what cannot
// change while a patch stays loaded (its functions, version, CVEs) is remembered between
// scrapes (PatchStructureCache).
// A read problem never fails the scrape; it is counted in lpmon_scrape_read_errors.
class LivepatchCollector : public prometheus::Collectable {
 public:
  LivepatchCollector(KernelPaths paths, std::string version);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  KernelPaths paths_;
  std::string version_;
  mutable PatchStructureCache patch_cache_;
};

}  // namespace lpmon::exporter
