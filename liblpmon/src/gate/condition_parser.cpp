#include "lpmon/gate/condition.hpp"

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "condition_tree.hpp"

// Parsing and type-checking a condition, once, when the gate file is loaded.
namespace lpmon::gate {
namespace {

using Node = Condition::Node;
using NodePtr = std::unique_ptr<const Node>;

enum class Tok { number, name, op, end };

struct Token {
  Tok kind;
  std::string text;
  double number = 0;
  std::size_t column;  // 1-based
};

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const std::size_t column = i + 1;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
    } else if ((c >= '0' && c <= '9') ||
               (c == '.' && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9')) {
      std::size_t end = i;
      while (end < s.size() && ((s[end] >= '0' && s[end] <= '9') || s[end] == '.')) ++end;
      if (end < s.size() && (s[end] == 'e' || s[end] == 'E')) {
        std::size_t exp = end + 1;
        if (exp < s.size() && (s[exp] == '+' || s[exp] == '-')) ++exp;
        if (exp < s.size() && s[exp] >= '0' && s[exp] <= '9') {
          end = exp;
          while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
        }
      }
      const std::string text(s.substr(i, end - i));
      char* parsed_end = nullptr;
      const double value = std::strtod(text.c_str(), &parsed_end);
      if (parsed_end != text.c_str() + text.size()) {
        throw ConditionError("'" + text + "' is not a number", column);
      }
      tokens.push_back({Tok::number, text, value, column});
      i = end;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
      std::size_t end = i;
      while (end < s.size() &&
             ((s[end] >= 'a' && s[end] <= 'z') || (s[end] >= 'A' && s[end] <= 'Z') ||
              (s[end] >= '0' && s[end] <= '9') || s[end] == '_')) {
        ++end;
      }
      tokens.push_back({Tok::name, std::string(s.substr(i, end - i)), 0, column});
      i = end;
    } else {
      static constexpr std::string_view kTwo[] = {"==", "!=", "<=", ">=", "&&", "||"};
      std::string text;
      for (std::string_view two : kTwo) {
        if (s.substr(i, 2) == two) text = two;
      }
      if (text.empty()) {
        if (std::string_view("<>!+-*/%()[]{},#").find(c) == std::string_view::npos) {
          if (c == '=') throw ConditionError("'=' assigns nothing here: compare with '=='", column);
          if (c == '&' || c == '|') {
            throw ConditionError(std::string("'") + c + "' alone: use '" + c + c + "'", column);
          }
          throw ConditionError(std::string("unexpected character '") + c + "'", column);
        }
        text = std::string(1, c);
      }
      tokens.push_back({Tok::op, text, 0, column});
      i += text.size();
    }
  }
  tokens.push_back({Tok::end, "", 0, s.size() + 1});
  return tokens;
}

std::string type_name(Type type) {
  switch (type) {
    case Type::number:
      return "a number";
    case Type::boolean:
      return "true or false";
    case Type::list:
      return "a list (result)";
  }
  return "?";
}

NodePtr make(Op op, Type type, std::size_t column, NodePtr a = nullptr, NodePtr b = nullptr) {
  auto node = std::make_unique<Node>();
  node->op = op;
  node->type = type;
  node->column = column;
  node->a = std::move(a);
  node->b = std::move(b);
  return node;
}

class Parser {
 public:
  explicit Parser(std::string_view source) : tokens_(tokenize(source)) {}

  NodePtr parse_condition() {
    NodePtr root = parse_or();
    if (peek().kind != Tok::end) fail("unexpected '" + peek().text + "'");
    if (root->type != Type::boolean) {
      throw ConditionError("a condition must be true or false, but this is " +
                               type_name(root->type) + " (compare it, e.g. result[0] >= 1)",
                           root->column);
    }
    return root;
  }

 private:
  // Bounds recursion on nested parentheses, indexing, calls and prefix operators.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser& parser) : parser_(parser) {
      if (++parser_.depth_ > Condition::kMaxDepth) {
        parser_.fail("nested more than " + std::to_string(Condition::kMaxDepth) + " deep");
      }
    }
    ~DepthGuard() { --parser_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser& parser_;
  };

  const Token& peek() const { return tokens_[pos_]; }
  Token next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool accept(std::string_view op) {
    const Token& t = peek();
    if ((t.kind == Tok::op || t.kind == Tok::name) && t.text == op) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(std::string_view op) {
    if (!accept(op)) {
      fail("expected '" + std::string(op) + "' but found " +
           (peek().kind == Tok::end ? std::string("the end") : "'" + peek().text + "'"));
    }
  }
  [[noreturn]] void fail(const std::string& message) const {
    throw ConditionError(message, peek().column);
  }

  static NodePtr as_number(NodePtr node) {
    if (node->type == Type::number) return node;
    if (node->type == Type::list) {
      const std::size_t column = node->column;
      return make(Op::single, Type::number, column, std::move(node));
    }
    throw ConditionError("expected a number here, but this is " + type_name(node->type),
                         node->column);
  }
  static NodePtr as_boolean(NodePtr node) {
    if (node->type != Type::boolean) {
      throw ConditionError("expected true or false here, but this is " + type_name(node->type),
                           node->column);
    }
    return node;
  }
  static NodePtr as_list(NodePtr node, std::string_view function) {
    if (node->type != Type::list) {
      throw ConditionError(std::string(function) + "() takes result, not " + type_name(node->type),
                           node->column);
    }
    return node;
  }

  NodePtr parse_or() {
    DepthGuard guard(*this);
    NodePtr left = parse_and();
    while (peek().text == "||" || peek().text == "or") {
      const std::size_t column = next().column;
      NodePtr right = as_boolean(parse_and());
      left = make(Op::logical_or, Type::boolean, column, as_boolean(std::move(left)),
                  std::move(right));
    }
    return left;
  }

  NodePtr parse_and() {
    NodePtr left = parse_compare();
    while (peek().text == "&&" || peek().text == "and") {
      const std::size_t column = next().column;
      NodePtr right = as_boolean(parse_compare());
      left = make(Op::logical_and, Type::boolean, column, as_boolean(std::move(left)),
                  std::move(right));
    }
    return left;
  }

  NodePtr parse_compare() {
    NodePtr left = parse_sum();
    static const std::pair<std::string_view, Op> kComparisons[] = {
        {"==", Op::equal},      {"!=", Op::not_equal}, {"<", Op::less},
        {"<=", Op::less_equal}, {">", Op::greater},    {">=", Op::greater_equal}};
    for (const auto& [text, op] : kComparisons) {
      if (peek().kind != Tok::op || peek().text != text) continue;
      const std::size_t column = next().column;
      NodePtr right = parse_sum();
      const bool equality = op == Op::equal || op == Op::not_equal;
      NodePtr node;
      if (equality && left->type == Type::boolean && right->type == Type::boolean) {
        node = make(op, Type::boolean, column, std::move(left), std::move(right));
        const_cast<Node&>(*node).compares_booleans = true;
      } else {
        if (left->type == Type::boolean || right->type == Type::boolean) {
          throw ConditionError("'" + std::string(text) + "' compares " + type_name(left->type) +
                                   " with " + type_name(right->type),
                               column);
        }
        node = make(op, Type::boolean, column, as_number(std::move(left)),
                    as_number(std::move(right)));
      }
      for (const auto& [other, unused] : kComparisons) {
        if (peek().kind == Tok::op && peek().text == other) {
          fail("comparisons do not chain: write a < b && b < c");
        }
      }
      return node;
    }
    return left;
  }

  NodePtr parse_sum() {
    NodePtr left = parse_product();
    while (peek().kind == Tok::op && (peek().text == "+" || peek().text == "-")) {
      const Token op = next();
      NodePtr right = as_number(parse_product());
      left = make(op.text == "+" ? Op::add : Op::subtract, Type::number, op.column,
                  as_number(std::move(left)), std::move(right));
    }
    return left;
  }

  NodePtr parse_product() {
    NodePtr left = parse_unary();
    while (peek().kind == Tok::op &&
           (peek().text == "*" || peek().text == "/" || peek().text == "%")) {
      const Token op = next();
      const Op kind = op.text == "*" ? Op::multiply : op.text == "/" ? Op::divide : Op::modulo;
      NodePtr right = as_number(parse_unary());
      left = make(kind, Type::number, op.column, as_number(std::move(left)), std::move(right));
    }
    return left;
  }

  // As in Argo's expr, ! and not bind tighter than comparisons: !(a > b), not !a > b.
  NodePtr parse_unary() {
    if (peek().kind == Tok::op && peek().text == "-") {
      DepthGuard guard(*this);
      const std::size_t column = next().column;
      return make(Op::negate, Type::number, column, as_number(parse_unary()));
    }
    if ((peek().kind == Tok::op && peek().text == "!") ||
        (peek().kind == Tok::name && peek().text == "not")) {
      DepthGuard guard(*this);
      const std::size_t column = next().column;
      return make(Op::logical_not, Type::boolean, column, as_boolean(parse_unary()));
    }
    return parse_postfix();
  }

  NodePtr parse_postfix() {
    NodePtr node = parse_primary();
    while (peek().kind == Tok::op && peek().text == "[") {
      const std::size_t column = next().column;
      if (node->type != Type::list) {
        throw ConditionError("only result can be indexed, not " + type_name(node->type), column);
      }
      NodePtr index = as_number(parse_or());
      expect("]");
      const std::size_t start = node->column;
      node = make(Op::index, Type::number, start, std::move(node), std::move(index));
    }
    return node;
  }

  NodePtr parse_primary() {
    const Token token = next();
    if (token.kind == Tok::number) {
      auto node = make(Op::number, Type::number, token.column);
      const_cast<Node&>(*node).number = token.number;
      return node;
    }
    if (token.kind == Tok::op && token.text == "(") {
      NodePtr inner = parse_or();
      expect(")");
      return inner;
    }
    if (token.kind == Tok::op && token.text == "#") {
      if (closures_ == 0) {
        throw ConditionError("'#' stands for an element only inside all/any/none's braces",
                             token.column);
      }
      return make(Op::element, Type::number, token.column);
    }
    if (token.kind == Tok::name) {
      if (token.text == "true" || token.text == "false") {
        auto node = make(Op::boolean, Type::boolean, token.column);
        const_cast<Node&>(*node).boolean = token.text == "true";
        return node;
      }
      if (token.text == "result") return make(Op::result, Type::list, token.column);
      if (token.text == "len" || token.text == "isNaN" || token.text == "isInf") {
        expect("(");
        NodePtr argument = parse_or();
        expect(")");
        if (token.text == "len") {
          return make(Op::len, Type::number, token.column, as_list(std::move(argument), "len"));
        }
        return make(token.text == "isNaN" ? Op::is_nan : Op::is_inf, Type::boolean, token.column,
                    as_number(std::move(argument)));
      }
      if (token.text == "all" || token.text == "any" || token.text == "none") {
        expect("(");
        NodePtr list = as_list(parse_or(), token.text);
        expect(",");
        if (peek().text != "{") fail(token.text + "() takes a predicate in braces, e.g. {# > 0}");
        expect("{");
        ++closures_;
        NodePtr predicate = as_boolean(parse_or());
        --closures_;
        expect("}");
        expect(")");
        const Op op = token.text == "all" ? Op::all : token.text == "any" ? Op::any : Op::none;
        return make(op, Type::boolean, token.column, std::move(list), std::move(predicate));
      }
      throw ConditionError("unknown name '" + token.text +
                               "' (known: result, true, false, len, isNaN, isInf, all, any, none, "
                               "and, or, not)",
                           token.column);
    }
    if (token.kind == Tok::end) throw ConditionError("the condition ends too early", token.column);
    throw ConditionError("unexpected '" + token.text + "'", token.column);
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  int closures_ = 0;
};

}  // namespace

Condition Condition::parse(std::string_view source) {
  if (source.size() > kMaxLength) {
    throw ConditionError("longer than " + std::to_string(kMaxLength) + " characters", 1);
  }
  if (source.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    throw ConditionError("the condition is empty", 1);
  }
  Parser parser(source);
  NodePtr root = parser.parse_condition();
  return Condition(std::string(source), std::shared_ptr<const Node>(std::move(root)));
}

}  // namespace lpmon::gate
