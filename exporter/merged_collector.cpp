#include "merged_collector.hpp"

#include <iterator>
#include <map>

namespace lpmon::exporter {

std::vector<prometheus::MetricFamily> MergedCollector::Collect() const {
  std::vector<prometheus::MetricFamily> merged;
  std::map<std::string, std::size_t> index;  // family name -> position in merged
  for (const auto& collector : collectors_) {
    for (auto& family : collector->Collect()) {
      if (auto it = index.find(family.name); it != index.end()) {
        auto& into = merged[it->second].metric;
        std::move(family.metric.begin(), family.metric.end(), std::back_inserter(into));
      } else {
        index.emplace(family.name, merged.size());
        merged.push_back(std::move(family));
      }
    }
  }
  return merged;
}

prometheus::MetricFamily bpf_program_up_family(const std::string& program, bool up) {
  prometheus::ClientMetric metric;
  metric.label = {{"program", program}};
  metric.gauge.value = up ? 1 : 0;
  return {"lpmon_bpf_program_up",
          "Whether lpmon's BPF program is loaded and attached (0: see the log).",
          prometheus::MetricType::Gauge,
          {std::move(metric)}};
}

}  // namespace lpmon::exporter
