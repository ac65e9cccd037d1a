// What the guest of lpmon verify leaves behind (see cli/verify/guest/verify-guest.sh): files of
// numbers, JSON lines of lpmon calls, and the kernel log.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lpmon::cli::verify {

namespace fs = std::filesystem;
using nlohmann::json;

struct PhaseCalls {
  bool observed = false;
  std::string probe;
  std::uint64_t calls = 0;
  std::uint64_t timed = 0;
  std::uint64_t total_ns = 0;
  std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> latency;  // low -> high, n

  std::optional<double> mean_ns() const {
    if (timed == 0) return std::nullopt;
    return static_cast<double>(total_ns) / static_cast<double>(timed);
  }
  json to_json() const {
    json slots = json::array();
    for (const auto& [low, slot] : latency) {
      slots.push_back({{"low", low}, {"high", slot.first}, {"count", slot.second}});
    }
    const auto mean = mean_ns();
    return {{"observed", observed}, {"probe", probe},
            {"calls", calls},       {"timed", timed},
            {"total_ns", total_ns}, {"mean_ns", mean ? json(*mean) : json()},
            {"latency_ns", slots}};
  }
};

std::string read_text(const fs::path& file);

std::string trim(std::string text);

std::vector<std::string> lines_of(const std::string& text);

std::optional<json> read_json(const fs::path& file);

std::optional<std::uint64_t> read_number(const fs::path& file);

std::optional<int> read_rc(const fs::path& file);

// `lpmon calls --json` lines: the last "calls" object per function has the counters since it
// was attached; the intervals' latency histograms add up to the phase's.
std::map<std::string, PhaseCalls> read_calls(const fs::path& file);

double seconds_of(const json& value);

// "[   12.345678] text" -> 12.345678
std::optional<double> dmesg_time(const std::string& line);

bool is_report_start(const std::string& line);

std::string taint_letters(std::uint64_t mask);

std::vector<std::string> taint_names(std::uint64_t mask);

}  // namespace lpmon::cli::verify
