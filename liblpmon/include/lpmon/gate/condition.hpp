#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lpmon::gate {

// A condition does not parse or is not true-or-false. column is 1-based in the condition.
class ConditionError : public std::runtime_error {
 public:
  ConditionError(const std::string& message, std::size_t column)
      : std::runtime_error(message), column_(column) {}
  std::size_t column() const { return column_; }

 private:
  std::size_t column_;
};

// A condition could not be evaluated for one result: an index out of range, or a result with
// several values used as one number. The measurement is then an Error, as in Argo.
class EvaluationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A successCondition or failureCondition: a small expression over `result`, the values a query
// returned, in the subset of Argo Rollouts' expression language that gates need. It is parsed
// and type-checked once, when the gate file is loaded, and evaluated by walking the tree: no
// code is ever run. The grammar (docs/gate.md has the user's view):
//
//   or      := and { ("||" | "or") and }
//   and     := compare { ("&&" | "and") compare }
//   compare := sum [ ("==" | "!=" | "<" | "<=" | ">" | ">=") sum ]
//   sum     := product { ("+" | "-") product }
//   product := unary { ("*" | "/" | "%") unary }
//   unary   := ("-" | "!" | "not") unary | postfix
//   postfix := primary { "[" or "]" }
//   primary := NUMBER | "true" | "false" | "result" | "#" | "(" or ")"
//            | ("len" | "isNaN" | "isInf") "(" or ")"
//            | ("all" | "any" | "none") "(" or "," "{" or "}" ")"
//
// `result` is a list of numbers; `#` is the element inside all/any/none's braces. Where a
// number is needed, a list of exactly one value stands for that value, so `result >= 1` works
// for scalar queries as in Argo. A negative index counts from the end.
class Condition {
 public:
  // Throws ConditionError. Conditions are at most kMaxLength characters and nest at most
  // kMaxDepth deep, which bounds both parsing and evaluation.
  static Condition parse(std::string_view source);

  // Throws EvaluationError.
  bool evaluate(std::span<const double> result) const;

  const std::string& source() const { return source_; }

  static constexpr std::size_t kMaxLength = 2048;
  static constexpr int kMaxDepth = 32;

  struct Node;

 private:
  Condition(std::string source, std::shared_ptr<const Node> root)
      : source_(std::move(source)), root_(std::move(root)) {}

  std::string source_;
  std::shared_ptr<const Node> root_;
};

}  // namespace lpmon::gate
