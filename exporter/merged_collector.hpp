#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <vector>

namespace lpmon::exporter {

// Several collectors behind one: families of the same name (lpmon_bpf_program_up comes from
// each BPF collector) are merged into one, as the text format allows a name only once.
class MergedCollector : public prometheus::Collectable {
 public:
  void add(std::shared_ptr<prometheus::Collectable> collector) {
    collectors_.push_back(std::move(collector));
  }
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::vector<std::shared_ptr<prometheus::Collectable>> collectors_;
};

}  // namespace lpmon::exporter
