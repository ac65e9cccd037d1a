#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lpmon/gate/condition.hpp"
#include "lpmon/gate/duration.hpp"
#include "lpmon/gate/local_check.hpp"

namespace lpmon::gate {

// A gate file or its args are wrong. The message names the file and line and says what to
// change; nothing has been queried.
class GateFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An Argo-style argument: referenced as {{args.NAME}} in queries, given with --arg NAME=VALUE.
struct ArgSpec {
  std::string name;
  std::optional<std::string> default_value;
  int line = 0;
};

struct PromQuery {
  std::string query_template;  // as written, with {{args.NAME}}
  std::string query;           // with the args substituted
  std::optional<Condition> success_condition;
  std::optional<Condition> failure_condition;
};

// One check: a PromQL query with conditions, or a local check, measured `count` times,
// `interval` apart, after `initial_delay`; limits as in Argo Rollouts' AnalysisTemplate
// (a negative failure or inconclusive limit means no limit).
struct CheckSpec {
  std::string name;
  int line = 0;
  Duration initial_delay{0};
  Duration interval{0};  // zero when count is 1
  int count = 1;
  int failure_limit = 0;
  int inconclusive_limit = 0;
  int consecutive_error_limit = 4;
  std::variant<PromQuery, LocalCheck> what;

  const PromQuery* prometheus() const { return std::get_if<PromQuery>(&what); }
  const LocalCheck* local() const { return std::get_if<LocalCheck>(&what); }
  // The shortest time the check can take: initial delay plus the intervals between counts.
  Duration shortest_run() const { return initial_delay + interval * (count - 1); }
};

struct GateFile {
  std::string source;  // the file's name, for messages
  std::string description;
  std::vector<ArgSpec> args;
  std::map<std::string, std::string> arg_values;  // every arg's value once bound
  std::vector<CheckSpec> checks;

  // The least time the gate takes: the longest of its checks' shortest runs.
  Duration shortest_run() const {
    Duration longest{0};
    for (const CheckSpec& check : checks) longest = std::max(longest, check.shortest_run());
    return longest;
  }
  // Whether it has checks that query Prometheus (lpmon gate runs those; apply the local ones).
  bool has_query_checks() const {
    return std::any_of(checks.begin(), checks.end(),
                       [](const CheckSpec& c) { return c.prometheus() != nullptr; });
  }
};

// Parses and validates a gate file (docs/gate.md) and binds its args: unknown keys, bad
// durations and limits, conditions that do not parse, queries referencing undeclared args,
// args passed but not declared, and declared args without a value are all GateFileError.
GateFile load_gate_file(const std::filesystem::path& file,
                        const std::map<std::string, std::string>& arg_values = {});

// The same from text; source names it in messages.
GateFile parse_gate_file(std::string_view yaml, const std::string& source,
                         const std::map<std::string, std::string>& arg_values = {});

}  // namespace lpmon::gate
