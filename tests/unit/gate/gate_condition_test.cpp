#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lpmon/gate/condition.hpp"

namespace lpmon::gate {
namespace {

using ::testing::HasSubstr;

bool eval(const std::string& condition, std::vector<double> result) {
  return Condition::parse(condition).evaluate(result);
}

// The message and column of the ConditionError that parsing throws, or "" if it parses.
std::string parse_error(const std::string& condition) {
  try {
    Condition::parse(condition);
  } catch (const ConditionError& e) {
    return std::string(e.what()) + " @" + std::to_string(e.column());
  }
  return "";
}

std::string eval_error(const std::string& condition, std::vector<double> result) {
  try {
    Condition::parse(condition).evaluate(result);
  } catch (const EvaluationError& e) {
    return e.what();
  }
  return "";
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Condition, Comparisons) {
  EXPECT_TRUE(eval("result[0] >= 1", {1}));
  EXPECT_FALSE(eval("result[0] >= 1", {0.5}));
  EXPECT_TRUE(eval("result[0] > 0.5", {1}));
  EXPECT_FALSE(eval("result[0] > 1", {1}));
  EXPECT_TRUE(eval("result[0] <= 1", {1}));
  EXPECT_TRUE(eval("result[0] < 1.5", {1}));
  EXPECT_TRUE(eval("result[0] == 2", {2}));
  EXPECT_TRUE(eval("result[0] != 2", {3}));
  EXPECT_TRUE(eval("true == !false", {}));
  EXPECT_FALSE(eval("true != true", {}));
}

TEST(Condition, LogicShortCircuitsSoGuardsWork) {
  EXPECT_TRUE(eval("result[0] > 0 && result[1] > 0", {1, 2}));
  EXPECT_FALSE(eval("result[0] > 0 and result[1] > 5", {1, 2}));
  EXPECT_TRUE(eval("result[0] > 5 || result[1] > 0", {1, 2}));
  EXPECT_TRUE(eval("result[0] > 5 or result[1] > 0", {1, 2}));
  EXPECT_TRUE(eval("!(result[0] > 5)", {1}));
  EXPECT_TRUE(eval("not (result[0] > 5)", {1}));
  EXPECT_TRUE(eval("!false && true", {}));
  // The right side would be out of range: && and || must not evaluate it.
  EXPECT_FALSE(eval("len(result) > 0 && result[0] > 1", {}));
  EXPECT_TRUE(eval("len(result) == 0 || result[0] > 1", {}));
}

TEST(Condition, PrecedenceOfArithmeticAndLogic) {
  EXPECT_TRUE(eval("1 + 2 * 3 == 7", {}));
  EXPECT_TRUE(eval("(1 + 2) * 3 == 9", {}));
  EXPECT_TRUE(eval("10 - 4 - 3 == 3", {}));  // left-associative
  EXPECT_TRUE(eval("12 / 3 / 2 == 2", {}));
  EXPECT_TRUE(eval("7 % 4 == 3", {}));
  EXPECT_TRUE(eval("-result[0] == -2", {2}));
  EXPECT_TRUE(eval("--2 == 2", {}));
  EXPECT_TRUE(eval("true || false && false", {}));  // && binds tighter
  EXPECT_TRUE(eval("1e3 == 1000 && .5 == 0.5 && 2.5e-1 == 0.25", {}));
  EXPECT_TRUE(eval("result[0] / result[1] < 0.05", {1, 100}));
}

TEST(Condition, IndexingCountsFromEitherEnd) {
  EXPECT_TRUE(eval("result[1] == 20", {10, 20, 30}));
  EXPECT_TRUE(eval("result[-1] == 30", {10, 20, 30}));
  EXPECT_TRUE(eval("result[len(result) - 3] == 10", {10, 20, 30}));
  EXPECT_THAT(eval_error("result[3] > 0", {10, 20, 30}),
              HasSubstr("result[3] is out of range: result has 3 values"));
  EXPECT_THAT(eval_error("result[-4] > 0", {10, 20, 30}), HasSubstr("out of range"));
  EXPECT_THAT(eval_error("result[0] > 0", {}), HasSubstr("result has 0 values"));
  EXPECT_THAT(eval_error("result[0.5] > 0", {1}), HasSubstr("result[0.5] is out of range"));
}

TEST(Condition, LenAllAnyNone) {
  EXPECT_TRUE(eval("len(result) == 0", {}));
  EXPECT_TRUE(eval("len(result) == 3", {1, 2, 3}));
  EXPECT_TRUE(eval("all(result, {# < 5})", {1, 2, 3}));
  EXPECT_FALSE(eval("all(result, {# < 3})", {1, 2, 3}));
  EXPECT_TRUE(eval("any(result, {# >= 3})", {1, 2, 3}));
  EXPECT_FALSE(eval("any(result, {# > 3})", {1, 2, 3}));
  EXPECT_TRUE(eval("none(result, {# > 3})", {1, 2, 3}));
  EXPECT_FALSE(eval("none(result, {# == 2})", {1, 2, 3}));
  // As in Argo's expr: over nothing, all and none hold and any does not.
  EXPECT_TRUE(eval("all(result, {# > 0})", {}));
  EXPECT_TRUE(eval("none(result, {# > 0})", {}));
  EXPECT_FALSE(eval("any(result, {# > 0})", {}));
  // '#' is the innermost element; the outer one comes back after the inner loop.
  EXPECT_TRUE(eval("all(result, {# >= 1 && any(result, {# == 3}) && # <= 3})", {1, 2, 3}));
}

TEST(Condition, NaNAndInfinity) {
  EXPECT_TRUE(eval("isNaN(result[0])", {kNaN}));
  EXPECT_FALSE(eval("isNaN(result[0])", {1}));
  EXPECT_TRUE(eval("isInf(result[0])", {-kInf}));
  EXPECT_FALSE(eval("result[0] >= 0", {kNaN}));  // NaN compares false, as in IEEE
  EXPECT_FALSE(eval("result[0] < 0", {kNaN}));
  EXPECT_TRUE(eval("isInf(1 / 0) && isNaN(0 / 0)", {}));
  EXPECT_TRUE(eval("any(result, {isNaN(#)})", {1, kNaN}));
}

TEST(Condition, AOneValueResultIsThatNumberAsForArgoScalars) {
  EXPECT_TRUE(eval("result >= 1", {1}));
  EXPECT_TRUE(eval("result * 2 == 4", {2}));
  EXPECT_THAT(eval_error("result >= 1", {1, 2}),
              HasSubstr("result has 2 values where one number is needed"));
  EXPECT_THAT(eval_error("result == 0", {}), HasSubstr("result has 0 values"));
}

TEST(Condition, SyntaxErrorsSayWhereAndWhat) {
  EXPECT_EQ(parse_error("result[0] = 1"), "'=' assigns nothing here: compare with '==' @11");
  EXPECT_EQ(parse_error("result[0] > 1 & true"), "'&' alone: use '&&' @15");
  EXPECT_EQ(parse_error("result[0] > 1 | true"), "'|' alone: use '||' @15");
  EXPECT_EQ(parse_error("result[0"), "expected ']' but found the end @9");
  EXPECT_EQ(parse_error("(result[0] > 1"), "expected ')' but found the end @15");
  EXPECT_EQ(parse_error("result[0] >"), "the condition ends too early @12");
  EXPECT_EQ(parse_error("result[0] > 1 1"), "unexpected '1' @15");
  EXPECT_EQ(parse_error("reslt[0] > 1"),
            "unknown name 'reslt' (known: result, true, false, len, isNaN, isInf, all, any, "
            "none, and, or, not) @1");
  EXPECT_EQ(parse_error("result[0] > $x"), "unexpected character '$' @13");
  EXPECT_EQ(parse_error("1 < 2 < 3"), "comparisons do not chain: write a < b && b < c @7");
  EXPECT_EQ(parse_error("   "), "the condition is empty @1");
  EXPECT_EQ(parse_error("1.2.3 > 0"), "'1.2.3' is not a number @1");
  EXPECT_EQ(parse_error("all(result, # > 0)"),
            "all() takes a predicate in braces, e.g. {# > 0} @13");
}

TEST(Condition, TypeErrorsAreFoundBeforeAnyQuery) {
  EXPECT_EQ(parse_error("result[0]"),
            "a condition must be true or false, but this is a number (compare it, e.g. "
            "result[0] >= 1) @1");
  EXPECT_EQ(parse_error("result"),
            "a condition must be true or false, but this is a list (result) (compare it, e.g. "
            "result[0] >= 1) @1");
  EXPECT_EQ(parse_error("result[0] && true"),
            "expected true or false here, but this is a number @1");
  EXPECT_EQ(parse_error("true + 1 > 0"), "expected a number here, but this is true or false @1");
  EXPECT_EQ(parse_error("true == 1"), "'==' compares true or false with a number @6");
  EXPECT_EQ(parse_error("len(1) > 0"), "len() takes result, not a number @5");
  EXPECT_EQ(parse_error("all(5, {# > 0})"), "all() takes result, not a number @5");
  EXPECT_EQ(parse_error("any(result, {#})"),
            "expected true or false here, but this is a number @14");
  EXPECT_EQ(parse_error("# > 0"), "'#' stands for an element only inside all/any/none's braces @1");
  EXPECT_EQ(parse_error("result[0][1] > 0"), "only result can be indexed, not a number @10");
  EXPECT_EQ(parse_error("isNaN(true)"), "expected a number here, but this is true or false @7");
  // ! binds tighter than >, as in Argo's expr.
  EXPECT_EQ(parse_error("!result[0] > 5"), "expected true or false here, but this is a number @2");
}

TEST(Condition, LengthAndNestingAreBounded) {
  EXPECT_THAT(parse_error(std::string(Condition::kMaxLength + 1, ' ')),
              HasSubstr("longer than 2048 characters"));
  const int deep = Condition::kMaxDepth + 1;
  EXPECT_THAT(parse_error(std::string(deep, '(') + "true" + std::string(deep, ')')),
              HasSubstr("nested more than 32 deep"));
  EXPECT_THAT(parse_error(std::string(deep, '!') + "true"), HasSubstr("nested more than"));
  EXPECT_THAT(parse_error(std::string(deep, '-') + "1 > 0"), HasSubstr("nested more than"));
  EXPECT_EQ(parse_error(std::string(10, '(') + "true" + std::string(10, ')')), "");
}

TEST(Condition, KeepsItsSource) {
  EXPECT_EQ(Condition::parse("result[0] >= 1").source(), "result[0] >= 1");
}

}  // namespace
}  // namespace lpmon::gate
