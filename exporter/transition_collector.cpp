#include "transition_collector.hpp"

#include <time.h>

#include <exception>
#include <iterator>
#include <utility>
#include <variant>

#include "bpf_families.hpp"
#include "log.hpp"

#include "lpmon/util/clock.hpp"

namespace lpmon::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

const char* direction_name(bool patching) {
  return patching ? "patching" : "unpatching";
}

}  // namespace

const std::vector<double>& TransitionMetrics::duration_buckets() {
  static const std::vector<double> buckets{0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600};
  return buckets;
}

TransitionCollector::TransitionCollector(const KernelPaths& paths, bool publish_costs)
    : publish_costs_(publish_costs) {
  try {
    // Per-round counts of blocked tasks feed a gauge; per-task events are for lpmon trace.
    tracer_ = std::make_unique<bpf::TransitionTracer>(
        [this](const bpf::TraceEvent& event) {
          std::lock_guard lock(mutex_);
          metrics_.record(event);
        },
        paths, bpf::TracerOptions{.blocked_tasks = true});
  } catch (const std::exception& e) {
    load_error_ = e.what();
    log(LogLevel::warn, std::string("transition tracing is off: ") + e.what());
    return;
  }
  log(LogLevel::info, "transition tracer attached");
}

void TransitionCollector::start() {
  if (!tracer_ || poller_.joinable()) return;
  poller_ = std::thread([this] {
    while (!stop_) {
      try {
        tracer_->poll(std::chrono::milliseconds(200));
      } catch (const std::exception& e) {
        log(LogLevel::error, std::string("transition tracer: ") + e.what());
      }
    }
  });
}

TransitionCollector::~TransitionCollector() {
  stop_ = true;
  if (poller_.joinable()) poller_.join();
}

void TransitionMetrics::record(const bpf::TraceEvent& event) {
  if (const auto ended = reducer_.record(event)) count_end(*ended);
}

void TransitionMetrics::count_end(const bpf::TransitionState& ended) {
  const std::string direction = direction_name(ended.patching);
  ++transitions_[{ended.patch, direction, std::string(to_string(ended.result))}];
  // Begun before the tracer attached: its duration is only what was seen of it.
  if (ended.began_before_trace) return;
  Histogram& h = durations_[direction];
  const auto& bounds = duration_buckets();
  if (h.bucket_counts.empty()) h.bucket_counts.assign(bounds.size(), 0);
  const double seconds = std::chrono::duration<double>(ended.duration).count();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      ++h.bucket_counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += seconds;
}

std::vector<MetricFamily> TransitionCollector::Collect() const {
  std::vector<MetricFamily> families;
  families.push_back(bpf_program_up_family("transition", tracer_ != nullptr));
  if (!tracer_) return families;

  if (publish_costs_) {
    std::vector<LabelledCost> costs;
    for (const auto& program : tracer_->programs()) {
      try {
        costs.push_back(
            {{{"object", "vmlinux"}, {"function", program.function}, {"program", program.name}},
             bpf::program_cost(program.fd)});
      } catch (const std::exception& e) {
        log(LogLevel::debug, std::string("transition tracer: ") + e.what());
      }
    }
    auto cost_families = bpf_program_cost_families(costs);
    std::move(cost_families.begin(), cost_families.end(), std::back_inserter(families));
  }

  std::lock_guard lock(mutex_);
  auto aggregated = metrics_.families(monotonic_now());
  std::move(aggregated.begin(), aggregated.end(), std::back_inserter(families));
  return families;
}

std::vector<MetricFamily> TransitionMetrics::families(std::chrono::nanoseconds now) const {
  std::vector<MetricFamily> families;
  MetricFamily total{"lpmon_transitions_total",
                     "Livepatch transitions that ended, by patch, direction and result.",
                     MetricType::Counter,
                     {}};
  for (const auto& [key, count] : transitions_) {
    ClientMetric m;
    m.label = {
        {"patch", std::get<0>(key)}, {"direction", std::get<1>(key)}, {"result", std::get<2>(key)}};
    m.counter.value = static_cast<double>(count);
    total.metric.push_back(std::move(m));
  }
  families.push_back(std::move(total));

  MetricFamily duration{"lpmon_transition_duration_seconds",
                        "How long livepatch transitions took, from start to end.",
                        MetricType::Histogram,
                        {}};
  for (const auto& [direction, h] : durations_) {
    duration.metric.push_back(histogram_sample({{"direction", direction}}, h.bucket_counts,
                                               duration_buckets(), h.count, h.sum));
  }
  families.push_back(std::move(duration));

  MetricFamily age{"lpmon_transition_in_progress_seconds",
                   "Age of the livepatch transition in progress, by patch and direction.",
                   MetricType::Gauge,
                   {}};
  // Only transitions whose start was seen have an age; rounds alone say too little.
  for (const auto& [patch, flight] : reducer_.in_flight()) {
    if (!flight.start_seen) continue;
    ClientMetric m;
    m.label = {{"patch", patch}, {"direction", direction_name(flight.patching)}};
    m.gauge.value = std::chrono::duration<double>(now - flight.started).count();
    age.metric.push_back(std::move(m));
  }
  families.push_back(std::move(age));

  MetricFamily blocked{"lpmon_transition_blocked_tasks",
                       "Tasks the last klp round of a transition in progress could not switch, "
                       "by reason.",
                       MetricType::Gauge,
                       {}};
  for (const auto& [patch, flight] : reducer_.in_flight()) {
    if (!flight.start_seen) continue;
    const bpf::RoundEvent r = flight.last_round.value_or(bpf::RoundEvent{});
    for (const auto& [reason, n] :
         {std::pair{bpf::BlockReason::running, r.running},
          {bpf::BlockReason::unreliable_stack, r.unreliable_stack},
          {bpf::BlockReason::sleeping_in_function, r.sleeping_in_function},
          {bpf::BlockReason::other, r.other}}) {
      ClientMetric m;
      m.label = {{"patch", patch}, {"reason", std::string(to_string(reason))}};
      m.gauge.value = n;
      blocked.metric.push_back(std::move(m));
    }
  }
  families.push_back(std::move(blocked));
  return families;
}

}  // namespace lpmon::exporter
