#include "store_collector.hpp"

#include <string>
#include <utility>

#include "lpmon/store/patch_level.hpp"

namespace lpmon::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily gauge(std::string name, std::string help) {
  return MetricFamily{std::move(name), std::move(help), MetricType::Gauge, {}};
}

void add(MetricFamily& family, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

}  // namespace

StoreCollector::StoreCollector(KernelPaths paths, std::filesystem::path store_root)
    : paths_(std::move(paths)), store_root_(std::move(store_root)) {}

std::vector<MetricFamily> StoreCollector::Collect() const {
  auto error = gauge("lpmon_store_read_error",
                     "1 when the patch store could not be read at this scrape (the exporter's log "
                     "does not repeat it; lpmon list shows why).");
  auto cves = gauge("lpmon_cve_fixed",
                    "A CVE the installed release fixes, while its patch is enabled; always 1.");
  auto installed = gauge("lpmon_installed_patch_active",
                         "The release installed for the running kernel: 1 while its patch is "
                         "enabled, 0 when it is not.");
  auto skipped = gauge("lpmon_boot_load_skipped",
                       "A release lpmon boot did not load because its load at an earlier boot "
                       "never finished; always 1.");
  try {
    const store::EffectivePatchLevel level =
        store::effective_patch_level(store::PatchStore(store_root_), paths_);
    for (const std::string& cve : level.cves_fixed) add(cves, 1, {{"cve", cve}});
    if (level.installed) {
      add(installed, level.active ? 1 : 0,
          {{"release", level.installed->id}, {"patch", level.installed->name}});
    }
    if (level.skipped) add(skipped, 1, {{"release", level.skipped->release}});
    add(error, 0);
  } catch (const std::exception&) {
    add(error, 1);
  }
  std::vector<MetricFamily> families;
  for (MetricFamily* family : {&error, &cves, &installed, &skipped}) {
    families.push_back(std::move(*family));
  }
  return families;
}

}  // namespace lpmon::exporter
