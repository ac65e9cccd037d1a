#pragma once

// The tree a Condition is parsed into, shared by its parser and its evaluator only.
#include <cstddef>
#include <memory>

#include "lpmon/gate/condition.hpp"

namespace lpmon::gate {

enum class Type { number, boolean, list };

enum class Op {
  number,
  boolean,
  result,
  element,  // '#'
  index,
  single,  // a one-value list used as a number
  len,
  is_nan,
  is_inf,
  all,
  any,
  none,
  negate,
  logical_not,
  add,
  subtract,
  multiply,
  divide,
  modulo,
  equal,
  not_equal,
  less,
  less_equal,
  greater,
  greater_equal,
  logical_and,
  logical_or,
};

struct Condition::Node {
  Op op;
  Type type;
  std::size_t column;
  double number = 0;
  bool boolean = false;
  std::unique_ptr<const Node> a;
  std::unique_ptr<const Node> b;
  bool compares_booleans = false;  // == and != between true/false values
};

}  // namespace lpmon::gate
