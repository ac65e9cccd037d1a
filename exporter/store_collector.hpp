#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <filesystem>
#include <vector>

#include "lpmon/kernel_paths.hpp"

namespace lpmon::exporter {

// The effective patch level for vulnerability scanners, from the patch store and sysfs at
// scrape time: lpmon_cve_fixed{cve} for each CVE the installed release fixes while its patch
// is enabled, the installed release and whether it is active, and a release lpmon boot did not
// load because its load at an earlier boot never finished.
class StoreCollector : public prometheus::Collectable {
 public:
  StoreCollector(KernelPaths paths, std::filesystem::path store_root);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  KernelPaths paths_;
  std::filesystem::path store_root_;
};

}  // namespace lpmon::exporter
