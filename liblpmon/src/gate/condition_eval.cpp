#include "lpmon/gate/condition.hpp"

#include <cmath>
#include <string>

#include "condition_tree.hpp"

// Evaluating a parsed condition for one query result, by walking its tree.
namespace lpmon::gate {
namespace {

using Node = Condition::Node;

std::string format_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::string text = std::to_string(value);
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text;
}

struct Context {
  std::span<const double> result;
  double element = 0;
};

bool eval_boolean(const Node& node, Context& context);

double eval_number(const Node& node, Context& context) {
  switch (node.op) {
    case Op::number:
      return node.number;
    case Op::element:
      return context.element;
    case Op::single:
      if (context.result.size() != 1) {
        throw EvaluationError(
            "result has " + std::to_string(context.result.size()) +
            " values where one number is needed: use result[i], len(result) or all/any");
      }
      return context.result[0];
    case Op::index: {
      const double raw = eval_number(*node.b, context);
      const auto size = static_cast<double>(context.result.size());
      if (!(raw == std::floor(raw)) || raw >= size || raw < -size) {
        throw EvaluationError("result[" + format_number(raw) + "] is out of range: result has " +
                              std::to_string(context.result.size()) + " values");
      }
      const auto index = static_cast<std::ptrdiff_t>(raw < 0 ? raw + size : raw);
      return context.result[static_cast<std::size_t>(index)];
    }
    case Op::len:
      return static_cast<double>(context.result.size());
    case Op::negate:
      return -eval_number(*node.a, context);
    case Op::add:
      return eval_number(*node.a, context) + eval_number(*node.b, context);
    case Op::subtract:
      return eval_number(*node.a, context) - eval_number(*node.b, context);
    case Op::multiply:
      return eval_number(*node.a, context) * eval_number(*node.b, context);
    case Op::divide:
      return eval_number(*node.a, context) / eval_number(*node.b, context);
    case Op::modulo:
      return std::fmod(eval_number(*node.a, context), eval_number(*node.b, context));
    default:
      throw EvaluationError("internal: not a number node");
  }
}

bool eval_boolean(const Node& node, Context& context) {
  switch (node.op) {
    case Op::boolean:
      return node.boolean;
    case Op::is_nan:
      return std::isnan(eval_number(*node.a, context));
    case Op::is_inf:
      return std::isinf(eval_number(*node.a, context));
    case Op::all:
    case Op::any:
    case Op::none: {
      // Over an empty list all() and none() are true and any() false, as in Argo's expr; the
      // engine never calls an empty result a success, whatever the condition says.
      const double outer = context.element;
      bool answer = node.op != Op::any;
      for (double value : context.result) {
        context.element = value;
        const bool hit = eval_boolean(*node.b, context);
        if (node.op == Op::all ? !hit : hit) {
          answer = !answer;
          break;
        }
      }
      context.element = outer;
      return answer;
    }
    case Op::logical_not:
      return !eval_boolean(*node.a, context);
    case Op::logical_and:
      return eval_boolean(*node.a, context) && eval_boolean(*node.b, context);
    case Op::logical_or:
      return eval_boolean(*node.a, context) || eval_boolean(*node.b, context);
    case Op::equal:
    case Op::not_equal: {
      bool same;
      if (node.compares_booleans) {
        same = eval_boolean(*node.a, context) == eval_boolean(*node.b, context);
      } else {
        same = eval_number(*node.a, context) == eval_number(*node.b, context);
      }
      return node.op == Op::equal ? same : !same;
    }
    case Op::less:
      return eval_number(*node.a, context) < eval_number(*node.b, context);
    case Op::less_equal:
      return eval_number(*node.a, context) <= eval_number(*node.b, context);
    case Op::greater:
      return eval_number(*node.a, context) > eval_number(*node.b, context);
    case Op::greater_equal:
      return eval_number(*node.a, context) >= eval_number(*node.b, context);
    default:
      throw EvaluationError("internal: not a boolean node");
  }
}

}  // namespace

bool Condition::evaluate(std::span<const double> result) const {
  Context context{result};
  return eval_boolean(*root_, context);
}

}  // namespace lpmon::gate
