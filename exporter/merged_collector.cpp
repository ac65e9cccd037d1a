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

}  // namespace lpmon::exporter
