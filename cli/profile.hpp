#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "lpmon/bpf/redirect_profile.hpp"
#include "lpmon/kernel_paths.hpp"

namespace lpmon::cli {

// lpmon calls --profile: CPU samples in livepatch's redirection, an interval at a time.
struct ProfileOptions {
  bool json = false;
  std::chrono::milliseconds interval{1000};
  std::optional<std::uint64_t> count;  // stop after this many intervals
  unsigned frequency_hz = 99;
  bool verbose = false;
  KernelPaths paths;
};

// What was added since an earlier snapshot of the same profile.
bpf::RedirectSamples samples_since(const bpf::RedirectSamples& now,
                                   const bpf::RedirectSamples& earlier);

// The share of all samples that a count is, and its binomial standard error.
struct Share {
  double value = 0;
  double error = 0;
};
Share share_of(std::uint64_t count, std::uint64_t samples);

// "12:00:01 redirection: 30 of 198 samples (15.2 % +- 2.5 %, 0.303 CPU-s) on 2 CPUs at 99 Hz"
// then a line per patched function redirected and per patch module function sampled.
std::string format_profile_text(const bpf::RedirectSamples& delta, unsigned cpus,
                                std::chrono::system_clock::time_point wall);

// type "profile": the interval's counts, seconds and shares, "functions" (patched functions
// with redirect samples) and "replacements" (patch module functions with samples).
nlohmann::json profile_to_json(const bpf::RedirectSamples& delta, unsigned cpus,
                               std::chrono::duration<double> interval,
                               std::chrono::system_clock::time_point wall);

// Reports every interval until Ctrl-C or --count. Returns an exit code.
int run_profile(const ProfileOptions& options, std::ostream& out, std::ostream& err);

}  // namespace lpmon::cli
