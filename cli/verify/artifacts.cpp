#include "verify/artifacts.hpp"

#include <fstream>
#include <sstream>

#include "lpmon/kernel_info.hpp"
#include "verify/verify.hpp"

namespace lpmon::cli::verify {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::optional<json> read_json(const fs::path& file) {
  const std::string text = read_text(file);
  if (text.empty()) return std::nullopt;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::optional<std::uint64_t> read_number(const fs::path& file) {
  const std::string text = trim(read_text(file));
  if (text.empty()) return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<int> read_rc(const fs::path& file) {
  if (auto n = read_number(file)) return static_cast<int>(*n);
  return std::nullopt;
}

// --- the guest's measurements

// `lpmon calls --json` lines: the last "calls" object per function has the counters since it
// was attached; the intervals' latency histograms add up to the phase's.
std::map<std::string, PhaseCalls> read_calls(const fs::path& file) {
  std::map<std::string, PhaseCalls> by_function;
  for (const std::string& line : lines_of(read_text(file))) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    const std::string key =
        j.value("object", std::string()) + ":" + j.value("function", std::string());
    const std::string type = j.value("type", std::string());
    PhaseCalls& f = by_function[key];
    if (type == "attached") {
      f.observed = true;
      f.probe = j.value("probe", std::string());
    } else if (type == "calls") {
      f.observed = true;
      f.calls = j.value("calls", std::uint64_t{0});
      f.timed = j.value("timed", std::uint64_t{0});
      f.total_ns = j.value("total_ns", std::uint64_t{0});
      for (const json& slot : j.value("latency_ns", json::array())) {
        auto& [high, n] = f.latency[slot.value("low", std::uint64_t{0})];
        high = slot.value("high", std::uint64_t{0});
        n += slot.value("count", std::uint64_t{0});
      }
    }
  }
  return by_function;
}

double seconds_of(const json& value) {
  return value.is_number() ? value.get<double>() : 0.0;
}

// "[   12.345678] text" -> 12.345678
std::optional<double> dmesg_time(const std::string& line) {
  if (line.size() < 3 || line[0] != '[') return std::nullopt;
  const auto close = line.find(']');
  if (close == std::string::npos) return std::nullopt;
  try {
    return std::stod(line.substr(1, close - 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool is_report_start(const std::string& line) {
  for (const char* marker : {"WARNING:", "BUG:", "Oops", "general protection", "Kernel panic"}) {
    if (line.find(marker) != std::string::npos) return true;
  }
  return false;
}

std::string taint_letters(std::uint64_t mask) {
  return Taint{mask}.letters();
}

std::vector<std::string> taint_names(std::uint64_t mask) {
  std::vector<std::string> names;
  for (const TaintFlag& flag : Taint{mask}.flags()) names.emplace_back(flag.name);
  return names;
}

// The host evaluates the gate's local checks once more over the whole run, from the guest's
// record: time does not pass, the record does not change.

}  // namespace lpmon::cli::verify

namespace lpmon::cli {

using namespace verify;

std::vector<std::string> kernel_reports(const std::string& log) {
  std::vector<std::string> reports;
  const auto lines = lines_of(log);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!is_report_start(lines[i])) continue;
    std::string text = lines[i];
    std::size_t j = i + 1;
    for (; j < lines.size() && j < i + 40; ++j) {
      if (is_report_start(lines[j])) break;
      text += "\n" + lines[j];
      if (lines[j].find("---[ end trace") != std::string::npos) {
        ++j;
        break;
      }
    }
    reports.push_back(text);
    i = j - 1;
  }
  return reports;
}

}  // namespace lpmon::cli
