#include "lpmon/gate/gate_file.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "lpmon/kernel_info.hpp"

namespace lpmon::gate {
namespace {

namespace fs = std::filesystem;

// Gate files are a page of YAML; a larger file is a mistake (or an attack on the parser).
constexpr std::uintmax_t kMaxFileSize = 1u << 20;

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    throw GateFileError(where(node) + ": " + message);
  }
  std::string where(const YAML::Node& node) const {
    return source_ + ":" + std::to_string(line(node));
  }
  static int line(const YAML::Node& node) { return node.Mark().line + 1; }
  const std::string& source() const { return source_; }

  // The mapping's entries by key, refusing keys not in `known` and keys given twice.
  std::map<std::string, YAML::Node> entries(const YAML::Node& map, std::string_view what,
                                            const std::vector<std::string>& known) const {
    if (!map.IsMap())
      fail(map, what.empty() ? "expected a mapping" : std::string(what) + " is a mapping of keys");
    std::map<std::string, YAML::Node> found;
    for (const auto& entry : map) {
      if (!entry.first.IsScalar()) fail(entry.first, "a key must be a plain name");
      const std::string key = entry.first.Scalar();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        fail(entry.first, "unknown key '" + key + "'" +
                              (what.empty() ? "" : " in " + std::string(what)) +
                              " (known: " + list + ")");
      }
      if (!found.emplace(key, entry.second).second)
        fail(entry.first, "'" + key + "' is given twice");
      // A null value's mark is where the next token starts: name the key's line instead.
      if (entry.second.IsNull()) fail(entry.first, "'" + key + "' has no value");
    }
    return found;
  }

  std::string scalar(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node, "'" + key + "' must be a single value");
    return node.Scalar();
  }

  int integer(const YAML::Node& node, const std::string& key, int min) const {
    const std::string text = scalar(node, key);
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
      fail(node, "'" + key + "' must be a whole number, not '" + text + "'");
    }
    if (value < min) {
      fail(node, "'" + key + "' must be at least " + std::to_string(min) +
                     (min == -1 ? " (-1: no limit)" : "") + ", not " + text);
    }
    return value;
  }

  Duration duration(const YAML::Node& node, const std::string& key) const {
    const std::string text = scalar(node, key);
    const auto parsed = parse_duration(text);
    if (!parsed) {
      fail(node, "'" + key + "': '" + text +
                     "' is not a duration: write a whole number and a unit (h, m, s, ms), "
                     "e.g. 30s, 2m, 1h30m");
    }
    return *parsed;
  }

 private:
  std::string source_;
};

bool valid_name(const std::string& name, std::string_view extra) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return !(name[0] >= '0' && name[0] <= '9');
}

// Replaces every {{args.NAME}} (spaces inside the braces allowed) with its value. Throws
// for any other {{...}} and for names not declared.
std::string substitute(const Reader& reader, const YAML::Node& node, const std::string& key,
                       const std::string& text, const std::map<std::string, std::string>& values) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t open = text.find("{{", pos);
    if (open == std::string::npos) break;
    const std::size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      reader.fail(node, "'" + key + "': '{{' without '}}'");
    }
    std::string inner = text.substr(open + 2, close - open - 2);
    inner.erase(0, inner.find_first_not_of(' '));
    inner.erase(inner.find_last_not_of(' ') + 1);
    if (!inner.starts_with("args.")) {
      reader.fail(node, "'" + key + "': '{{" + inner +
                            "}}' is not a template this knows: use {{args.NAME}}");
    }
    const std::string name = inner.substr(5);
    const auto value = values.find(name);
    if (value == values.end()) {
      std::string declared;
      for (const auto& [n, v] : values) declared += (declared.empty() ? "" : ", ") + n;
      reader.fail(node, "'" + key + "' uses {{args." + name + "}} but the gate declares no arg '" +
                            name + "'" +
                            (declared.empty() ? " (it declares none: add it under args)"
                                              : " (it declares: " + declared + ")"));
    }
    out += text.substr(pos, open - pos) + value->second;
    pos = close + 2;
  }
  return out + text.substr(pos);
}

// Arg values go into PromQL string literals and conditions; a quote or backslash in one could
// close the literal and change what the query asks, so those are refused.
void check_arg_value(const std::string& name, const std::string& value) {
  for (char c : value) {
    if (c == '"' || c == '\'' || c == '`' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
        c == 0x7f) {
      throw GateFileError("--arg " + name +
                          ": the value may not hold quotes, backslashes or control characters "
                          "(it is substituted into PromQL strings)");
    }
  }
}

std::vector<ArgSpec> read_args(const Reader& reader, const YAML::Node& node) {
  if (!node.IsSequence()) reader.fail(node, "'args' is a list of {name, value}");
  std::vector<ArgSpec> args;
  for (const auto& item : node) {
    auto keys = reader.entries(item, "an arg", {"name", "value"});
    if (!keys.contains("name")) reader.fail(item, "an arg needs a 'name'");
    ArgSpec arg{reader.scalar(keys["name"], "name"), std::nullopt, Reader::line(item)};
    if (!valid_name(arg.name, "-")) {
      reader.fail(keys["name"], "arg name '" + arg.name +
                                    "': letters, digits, _ and -, not starting with a digit");
    }
    for (const auto& other : args) {
      if (other.name == arg.name)
        reader.fail(keys["name"], "arg '" + arg.name + "' is declared twice");
    }
    if (keys.contains("value")) arg.default_value = reader.scalar(keys["value"], "value");
    args.push_back(std::move(arg));
  }
  return args;
}

std::map<std::string, std::string> bind_args(const Reader& reader, const std::vector<ArgSpec>& args,
                                             const std::map<std::string, std::string>& given) {
  std::map<std::string, std::string> values;
  for (const auto& [name, value] : given) {
    const bool declared = std::any_of(args.begin(), args.end(),
                                      [&name = name](const ArgSpec& a) { return a.name == name; });
    if (!declared) {
      std::string list;
      for (const auto& a : args) list += (list.empty() ? "" : ", ") + a.name;
      throw GateFileError("--arg " + name + ": " + reader.source() + " declares no arg '" + name +
                          "'" +
                          (list.empty() ? " (it declares none)" : " (it declares: " + list + ")"));
    }
    check_arg_value(name, value);
  }
  for (const ArgSpec& arg : args) {
    if (auto it = given.find(arg.name); it != given.end()) {
      values[arg.name] = it->second;
    } else if (arg.default_value) {
      values[arg.name] = *arg.default_value;
    } else {
      throw GateFileError(reader.source() + ":" + std::to_string(arg.line) + ": arg '" + arg.name +
                          "' has no value: pass --arg " + arg.name + "=VALUE");
    }
  }
  return values;
}

std::uint64_t taint_bit(const Reader& reader, const YAML::Node& node) {
  const std::string name = reader.scalar(node, "allow");
  std::string names;
  for (const TaintFlag& flag : known_taint_flags()) {
    if (name == flag.name) return std::uint64_t{1} << flag.bit;
    names += (names.empty() ? "" : ", ") + std::string(flag.name);
  }
  reader.fail(node, "'" + name + "' is not a taint flag lpmon knows (" + names + ")");
}

LocalCheck read_local(const Reader& reader, const YAML::Node& node) {
  if (!node.IsMap()) reader.fail(node, "'local' is a mapping with a 'kind'");
  const YAML::Node kind_node = node["kind"];
  if (!kind_node) {
    reader.fail(node,
                "a local check needs a 'kind' (transitionFinished, noBlockingTasks, "
                "noNewTaint, callOverhead)");
  }
  const std::string kind = reader.scalar(kind_node, "kind");
  LocalCheck check;
  if (kind == "transitionFinished") {
    auto keys = reader.entries(node, "a transitionFinished check", {"kind", "within"});
    if (!keys.contains("within")) reader.fail(node, "transitionFinished needs 'within' (e.g. 30s)");
    check.kind = LocalCheck::Kind::transition_finished;
    check.within = reader.duration(keys["within"], "within");
  } else if (kind == "noBlockingTasks") {
    reader.entries(node, "a noBlockingTasks check", {"kind"});
    check.kind = LocalCheck::Kind::no_blocking_tasks;
  } else if (kind == "noNewTaint") {
    auto keys = reader.entries(node, "a noNewTaint check", {"kind", "allow"});
    check.kind = LocalCheck::Kind::no_new_taint;
    check.allowed_taint = livepatch_taint_mask();
    if (keys.contains("allow")) {
      if (!keys["allow"].IsSequence())
        reader.fail(keys["allow"], "'allow' is a list of taint flag names");
      check.allowed_taint = 0;
      for (const auto& item : keys["allow"]) check.allowed_taint |= taint_bit(reader, item);
    }
  } else if (kind == "callOverhead") {
    auto keys = reader.entries(node, "a callOverhead check", {"kind", "max"});
    if (!keys.contains("max")) reader.fail(node, "callOverhead needs 'max' (e.g. 5% or 0.05)");
    std::string text = reader.scalar(keys["max"], "max");
    const bool percent = text.ends_with('%');
    if (percent) text.pop_back();
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
        value < 0) {
      reader.fail(keys["max"], "'max' must be a ratio (0.05) or a percentage (5%), not '" +
                                   reader.scalar(keys["max"], "max") + "'");
    }
    check.kind = LocalCheck::Kind::call_overhead;
    check.max_overhead = percent ? value / 100 : value;
  } else {
    reader.fail(kind_node, "unknown local check kind '" + kind +
                               "' (known: transitionFinished, noBlockingTasks, noNewTaint, "
                               "callOverhead)");
  }
  return check;
}

std::optional<Condition> read_condition(const Reader& reader, const YAML::Node& node,
                                        const std::string& key,
                                        const std::map<std::string, std::string>& values) {
  const std::string text = substitute(reader, node, key, reader.scalar(node, key), values);
  try {
    return Condition::parse(text);
  } catch (const ConditionError& e) {
    reader.fail(node, key + " '" + text + "': " + e.what() + " (at column " +
                          std::to_string(e.column()) + " of the condition)");
  }
}

CheckSpec read_check(const Reader& reader, const YAML::Node& node,
                     const std::map<std::string, std::string>& values) {
  auto keys = reader.entries(
      node, "a check",
      {"name", "query", "successCondition", "failureCondition", "local", "initialDelay", "interval",
       "count", "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit"});
  CheckSpec check;
  check.line = Reader::line(node);
  if (!keys.contains("name")) reader.fail(node, "a check needs a 'name'");
  check.name = reader.scalar(keys["name"], "name");
  if (!valid_name(check.name, "-.:")) {
    reader.fail(keys["name"], "check name '" + check.name +
                                  "': letters, digits and _ - . :, not starting with a digit");
  }
  if (keys.contains("initialDelay")) {
    check.initial_delay = reader.duration(keys["initialDelay"], "initialDelay");
  }
  if (keys.contains("count")) check.count = reader.integer(keys["count"], "count", 1);
  if (keys.contains("interval")) {
    check.interval = reader.duration(keys["interval"], "interval");
    if (check.interval.count() == 0)
      reader.fail(keys["interval"], "'interval' must be more than 0");
    if (!keys.contains("count")) {
      reader.fail(keys["interval"],
                  "'interval' without 'count': a gate must end, so say how many "
                  "measurements to take");
    }
  } else if (check.count > 1) {
    reader.fail(keys["count"], "'count' " + std::to_string(check.count) +
                                   " needs an 'interval' between the measurements");
  }
  if (keys.contains("failureLimit")) {
    check.failure_limit = reader.integer(keys["failureLimit"], "failureLimit", -1);
  }
  if (keys.contains("inconclusiveLimit")) {
    check.inconclusive_limit = reader.integer(keys["inconclusiveLimit"], "inconclusiveLimit", -1);
  }
  if (keys.contains("consecutiveErrorLimit")) {
    // No "no limit" here: errors are retried without counting, so the check could run forever.
    check.consecutive_error_limit =
        reader.integer(keys["consecutiveErrorLimit"], "consecutiveErrorLimit", 0);
  }

  if (keys.contains("query") == keys.contains("local")) {
    reader.fail(node, "check '" + check.name + "' needs either 'query' (PromQL) or 'local', " +
                          (keys.contains("query") ? "not both" : "and has neither"));
  }
  if (keys.contains("local")) {
    for (const char* key : {"successCondition", "failureCondition"}) {
      if (keys.contains(key)) {
        reader.fail(keys[key], std::string("'") + key +
                                   "' is for query checks; a local check's kind is its condition");
      }
    }
    check.what = read_local(reader, keys["local"]);
    return check;
  }
  PromQuery query;
  query.query_template = reader.scalar(keys["query"], "query");
  if (query.query_template.find_first_not_of(" \t\r\n") == std::string::npos) {
    reader.fail(keys["query"], "'query' is empty");
  }
  query.query = substitute(reader, keys["query"], "query", query.query_template, values);
  if (keys.contains("successCondition")) {
    query.success_condition =
        read_condition(reader, keys["successCondition"], "successCondition", values);
  }
  if (keys.contains("failureCondition")) {
    query.failure_condition =
        read_condition(reader, keys["failureCondition"], "failureCondition", values);
  }
  check.what = std::move(query);
  return check;
}

}  // namespace

GateFile parse_gate_file(std::string_view yaml, const std::string& source,
                         const std::map<std::string, std::string>& arg_values) {
  const Reader reader(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw GateFileError(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) {
    throw GateFileError(source +
                        ": a gate file is a mapping with 'checks' (and 'args', "
                        "'description'); see docs/gate.md");
  }
  auto keys = reader.entries(root, "", {"description", "args", "checks"});
  GateFile gate;
  gate.source = source;
  if (keys.contains("description"))
    gate.description = reader.scalar(keys["description"], "description");
  if (keys.contains("args")) gate.args = read_args(reader, keys["args"]);
  gate.arg_values = bind_args(reader, gate.args, arg_values);
  if (!keys.contains("checks"))
    reader.fail(root, "missing 'checks': a gate needs at least one check");
  const YAML::Node checks = keys["checks"];
  if (!checks.IsSequence() || checks.size() == 0) {
    reader.fail(checks, "'checks' must list at least one check");
  }
  std::set<std::string> names;
  for (const auto& item : checks) {
    CheckSpec check = read_check(reader, item, gate.arg_values);
    if (!names.insert(check.name).second) {
      reader.fail(item, "check name '" + check.name + "' is used twice");
    }
    gate.checks.push_back(std::move(check));
  }
  return gate;
}

GateFile load_gate_file(const fs::path& file,
                        const std::map<std::string, std::string>& arg_values) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw GateFileError(file.string() + ": no such gate file");
  if (fs::file_size(file, ec) > kMaxFileSize) {
    throw GateFileError(file.string() + ": larger than 1 MiB; a gate file is a page of YAML");
  }
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw GateFileError(file.string() + ": cannot read it");
  return parse_gate_file(text.str(), file.string(), arg_values);
}

}  // namespace lpmon::gate
