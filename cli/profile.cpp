#include "profile.hpp"

#include <time.h>

#include <cmath>
#include <cstdio>
#include <thread>

#include "command.hpp"
#include "live_view.hpp"
#include "lpmon/bpf/probe.hpp"
#include "lpmon/exit_codes.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::cli {

bpf::RedirectSamples samples_since(const bpf::RedirectSamples& now,
                                   const bpf::RedirectSamples& earlier) {
  bpf::RedirectSamples d = now;
  d.samples -= earlier.samples;
  d.kernel -= earlier.kernel;
  d.redirect -= earlier.redirect;
  d.redirect_unattributed -= earlier.redirect_unattributed;
  d.stack_errors -= earlier.stack_errors;
  for (auto& [id, n] : d.redirect_by_function) {
    if (auto it = earlier.redirect_by_function.find(id); it != earlier.redirect_by_function.end())
      n -= it->second;
  }
  for (auto& [id, r] : d.replacements) {
    if (auto it = earlier.replacements.find(id); it != earlier.replacements.end()) {
      r.self -= it->second.self;
      r.inclusive -= it->second.inclusive;
    }
  }
  return d;
}

Share share_of(std::uint64_t count, std::uint64_t samples) {
  if (samples == 0) return {};
  const double p = static_cast<double>(count) / static_cast<double>(samples);
  return {p, std::sqrt(p * (1 - p) / static_cast<double>(samples))};
}

std::string format_profile_text(const bpf::RedirectSamples& d, unsigned cpus,
                                std::chrono::system_clock::time_point wall) {
  const Share share = share_of(d.redirect, d.samples);
  const double hz = 1e9 / static_cast<double>(d.period.count());
  char line[512];
  std::snprintf(line, sizeof line,
                "%s redirection: %llu of %llu samples (%.2f %% +- %.2f %%, %.3f CPU-s) on %u CPUs "
                "at %.0f Hz; %llu in the kernel, %llu in ftrace code above no patched function\n",
                clock_text(wall).c_str(), static_cast<unsigned long long>(d.redirect),
                static_cast<unsigned long long>(d.samples), share.value * 100, share.error * 100,
                d.seconds(d.redirect), cpus, hz, static_cast<unsigned long long>(d.kernel),
                static_cast<unsigned long long>(d.redirect_unattributed));
  std::string text = line;
  for (const auto& [id, n] : d.redirect_by_function) {
    if (n == 0) continue;
    std::snprintf(line, sizeof line, "    redirecting %s: %llu samples, %.3f CPU-s\n",
                  to_string(id).c_str(), static_cast<unsigned long long>(n), d.seconds(n));
    text += line;
  }
  for (const auto& [id, r] : d.replacements) {
    if (r.inclusive == 0) continue;
    std::snprintf(line, sizeof line,
                  "    in %s (patch %s): %llu samples in it, %llu with what it calls\n",
                  id.name.c_str(), id.object.c_str(), static_cast<unsigned long long>(r.self),
                  static_cast<unsigned long long>(r.inclusive));
    text += line;
  }
  return text;
}

nlohmann::json profile_to_json(const bpf::RedirectSamples& d, unsigned cpus,
                               std::chrono::duration<double> interval,
                               std::chrono::system_clock::time_point wall) {
  const Share share = share_of(d.redirect, d.samples);
  nlohmann::json functions = nlohmann::json::array();
  for (const auto& [id, n] : d.redirect_by_function) {
    functions.push_back({{"object", id.object},
                         {"function", id.name},
                         {"sympos", id.sympos},
                         {"redirect_samples", n},
                         {"redirect_seconds", d.seconds(n)}});
  }
  nlohmann::json replacements = nlohmann::json::array();
  for (const auto& [id, r] : d.replacements) {
    if (r.inclusive == 0) continue;
    replacements.push_back({{"patch", id.object},
                            {"function", id.name},
                            {"self_samples", r.self},
                            {"inclusive_samples", r.inclusive},
                            {"self_seconds", d.seconds(r.self)}});
  }
  return {{"type", "profile"},
          {"time", utc_timestamp(wall)},
          {"interval_seconds", interval.count()},
          {"cpus", cpus},
          {"period_seconds", std::chrono::duration<double>(d.period).count()},
          {"samples", d.samples},
          {"kernel_samples", d.kernel},
          {"redirect_samples", d.redirect},
          {"redirect_seconds", d.seconds(d.redirect)},
          {"redirect_share", share.value},
          {"redirect_share_error", share.error},
          {"unattributed_ftrace_samples", d.redirect_unattributed},
          {"stack_errors", d.stack_errors},
          {"functions", std::move(functions)},
          {"replacements", std::move(replacements)}};
}

int run_profile(const ProfileOptions& options, std::ostream& out, std::ostream& err) {
  bpf::set_libbpf_verbose(options.verbose);
  bpf::RedirectProfile profile({.paths = options.paths, .frequency_hz = options.frequency_hz});
  stop_on_signals();
  // The line scripts wait for.
  err << "lpmon: sampling " << profile.cpus() << " CPUs at " << options.frequency_hz
      << " Hz; Ctrl-C to end\n";
  err.flush();

  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Clock::time_point since = start;
  bpf::RedirectSamples before = profile.read();
  for (std::uint64_t reported = 0; !options.count || reported < *options.count; ++reported) {
    const Clock::time_point tick = start + options.interval * (reported + 1);
    while (!stop_requested() && Clock::now() < tick) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(tick - Clock::now(), std::chrono::milliseconds(50)));
    }
    const Clock::time_point now = Clock::now();
    const bpf::RedirectSamples current = profile.read();
    const auto delta = samples_since(current, before);
    const auto wall = std::chrono::system_clock::now();
    if (options.json) {
      out << profile_to_json(delta, profile.cpus(), now - since, wall).dump() << '\n';
    } else {
      out << format_profile_text(delta, profile.cpus(), wall);
    }
    out.flush();
    before = current;
    since = now;
    if (stop_requested()) break;
    profile.refresh();
  }
  restore_default_signals();
  return to_int(ExitCode::ok);
}

}  // namespace lpmon::cli
