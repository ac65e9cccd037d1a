// Feeds arbitrary bytes to the gate file parser and, through it, to the condition parser; and
// evaluates every condition that parses. A GateFileError is the right answer to bad input;
// anything else escaping, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "lpmon/gate/gate_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const std::vector<double> kResults[] = {{}, {1}, {0, 1, 2}, {-1.5, 1e300}};
  try {
    const lpmon::gate::GateFile gate =
        lpmon::gate::parse_gate_file(text, "fuzz.yaml", {{"instance", "h1"}});
    for (const auto& check : gate.checks) {
      const auto* query = check.prometheus();
      if (query == nullptr) continue;
      for (const auto& result : kResults) {
        for (const auto* condition : {&query->success_condition, &query->failure_condition}) {
          if (!*condition) continue;
          try {
            (*condition)->evaluate(result);
          } catch (const lpmon::gate::EvaluationError&) {
          }
        }
      }
    }
  } catch (const lpmon::gate::GateFileError&) {
  }
  // The condition language on its own, where most of the parsing is.
  try {
    const auto condition = lpmon::gate::Condition::parse(text);
    for (const auto& result : kResults) {
      try {
        condition.evaluate(result);
      } catch (const lpmon::gate::EvaluationError&) {
      }
    }
  } catch (const lpmon::gate::ConditionError&) {
  }
  return 0;
}
