#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "lpmon/gate/gate_file.hpp"
#include "lpmon/kernel_info.hpp"

namespace lpmon::gate {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Args = std::map<std::string, std::string>;
using namespace std::chrono_literals;

GateFile parse(const std::string& yaml, const Args& args = {}) {
  return parse_gate_file(yaml, "g.yaml", args);
}

std::string load_error(const std::string& yaml, const Args& args = {}) {
  try {
    parse(yaml, args);
  } catch (const GateFileError& e) {
    return e.what();
  }
  return "";
}

// A one-check gate with `extra` lines added to the check (indented 4).
std::string check_with(const std::string& extra) {
  return "checks:\n"
         "  - name: c\n"
         "    query: up\n" +
         extra;
}

std::uint64_t bit(std::string_view name) {
  for (const TaintFlag& flag : known_taint_flags()) {
    if (flag.name == name) return std::uint64_t{1} << flag.bit;
  }
  return 0;
}

TEST(Duration, ParsesArgoAndPrometheusStyle) {
  EXPECT_EQ(parse_duration("30s"), Duration(30s));
  EXPECT_EQ(parse_duration("2m"), Duration(2min));
  EXPECT_EQ(parse_duration("1h30m"), Duration(90min));
  EXPECT_EQ(parse_duration("1h2m3s4ms"), Duration(1h + 2min + 3s + 4ms));
  EXPECT_EQ(parse_duration("250ms"), Duration(250ms));
  EXPECT_EQ(parse_duration("0s"), Duration(0));
  EXPECT_EQ(parse_duration("0"), Duration(0));
}

TEST(Duration, RefusesWhatItCannotReadUnambiguously) {
  for (const char* bad : {"", "30", "s", "30 s", " 30s", "1.5s", "-1s", "1x", "1d", "30s1m", "1m1m",
                          "1ms1s", "1h30", "99999999999999999999h"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(Duration, FormatsTheWayItParses) {
  EXPECT_EQ(format_duration(Duration(0)), "0s");
  EXPECT_EQ(format_duration(Duration(90min)), "1h30m");
  EXPECT_EQ(format_duration(Duration(1h + 2min + 3s + 4ms)), "1h2m3s4ms");
  EXPECT_EQ(format_duration(Duration(250ms)), "250ms");
  for (const char* text : {"1h30m", "45s", "2m5s", "100ms"}) {
    EXPECT_EQ(format_duration(*parse_duration(text)), text);
  }
}

TEST(GateFile, ReadsEveryKey) {
  const GateFile gate = parse(R"(description: wave 1
args:
  - name: instance
  - name: patch
    value: acme_v2
checks:
  - name: patch-enabled
    initialDelay: 1m
    interval: 30s
    count: 5
    failureLimit: 1
    inconclusiveLimit: 2
    consecutiveErrorLimit: 3
    query: min(lpmon_patch_enabled{instance=~"{{args.instance}}", patch="{{ args.patch }}"})
    successCondition: result[0] == 1
    failureCondition: result[0] == 0
  - name: transition
    local:
      kind: transitionFinished
      within: 45s
  - name: blockers
    local:
      kind: noBlockingTasks
  - name: taint
    local:
      kind: noNewTaint
      allow: [livepatch, warn]
  - name: taint-default
    local:
      kind: noNewTaint
  - name: overhead
    local:
      kind: callOverhead
      max: 5%
  - name: overhead-ratio
    local:
      kind: callOverhead
      max: 0.1
)",
                              {{"instance", "h1|h2"}});
  EXPECT_EQ(gate.source, "g.yaml");
  EXPECT_EQ(gate.description, "wave 1");
  ASSERT_EQ(gate.args.size(), 2u);
  EXPECT_EQ(gate.args[0].name, "instance");
  EXPECT_EQ(gate.args[0].default_value, std::nullopt);
  EXPECT_EQ(gate.args[0].line, 3);
  EXPECT_EQ(gate.args[1].default_value, "acme_v2");
  EXPECT_EQ(gate.arg_values, (Args{{"instance", "h1|h2"}, {"patch", "acme_v2"}}));

  ASSERT_EQ(gate.checks.size(), 7u);
  const CheckSpec& c = gate.checks[0];
  EXPECT_EQ(c.name, "patch-enabled");
  EXPECT_EQ(c.line, 7);
  EXPECT_EQ(c.initial_delay, Duration(1min));
  EXPECT_EQ(c.interval, Duration(30s));
  EXPECT_EQ(c.count, 5);
  EXPECT_EQ(c.failure_limit, 1);
  EXPECT_EQ(c.inconclusive_limit, 2);
  EXPECT_EQ(c.consecutive_error_limit, 3);
  EXPECT_EQ(c.shortest_run(), Duration(3min));
  ASSERT_NE(c.prometheus(), nullptr);
  EXPECT_EQ(c.prometheus()->query_template,
            R"(min(lpmon_patch_enabled{instance=~"{{args.instance}}", patch="{{ args.patch }}"}))");
  EXPECT_EQ(c.prometheus()->query,
            R"(min(lpmon_patch_enabled{instance=~"h1|h2", patch="acme_v2"}))");
  EXPECT_EQ(c.prometheus()->success_condition->source(), "result[0] == 1");
  EXPECT_EQ(c.prometheus()->failure_condition->source(), "result[0] == 0");

  ASSERT_NE(gate.checks[1].local(), nullptr);
  EXPECT_EQ(gate.checks[1].local()->kind, LocalCheck::Kind::transition_finished);
  EXPECT_EQ(gate.checks[1].local()->within, Duration(45s));
  EXPECT_EQ(gate.checks[2].local()->kind, LocalCheck::Kind::no_blocking_tasks);
  EXPECT_EQ(gate.checks[3].local()->kind, LocalCheck::Kind::no_new_taint);
  EXPECT_EQ(gate.checks[3].local()->allowed_taint, bit("livepatch") | bit("warn"));
  EXPECT_EQ(gate.checks[4].local()->allowed_taint,
            bit("livepatch") | bit("oot_module") | bit("unsigned_module"));
  EXPECT_EQ(gate.checks[5].local()->kind, LocalCheck::Kind::call_overhead);
  EXPECT_DOUBLE_EQ(gate.checks[5].local()->max_overhead, 0.05);
  EXPECT_DOUBLE_EQ(gate.checks[6].local()->max_overhead, 0.1);
}

TEST(GateFile, DefaultsAreArgos) {
  const GateFile gate = parse(check_with(""));
  const CheckSpec& c = gate.checks[0];
  EXPECT_EQ(c.count, 1);
  EXPECT_EQ(c.interval, Duration(0));
  EXPECT_EQ(c.initial_delay, Duration(0));
  EXPECT_EQ(c.failure_limit, 0);
  EXPECT_EQ(c.inconclusive_limit, 0);
  EXPECT_EQ(c.consecutive_error_limit, 4);
  EXPECT_FALSE(c.prometheus()->success_condition);
  EXPECT_FALSE(c.prometheus()->failure_condition);
  EXPECT_EQ(c.prometheus()->query, "up");
  EXPECT_EQ(parse(check_with("    failureLimit: -1\n")).checks[0].failure_limit, -1);
}

TEST(GateFile, ArgValuesFromTheCommandLineWinOverDefaults) {
  const std::string yaml =
      "args:\n  - name: x\n    value: fallback\nchecks:\n  - name: c\n    query: "
      "up{a=\"{{args.x}}\"}\n"
      "    successCondition: result[0] >= {{args.x}}\n";
  EXPECT_THAT(load_error(yaml), HasSubstr("successCondition 'result[0] >= fallback'"));
  const GateFile gate = parse(yaml, {{"x", "3"}});
  EXPECT_EQ(gate.checks[0].prometheus()->query, "up{a=\"3\"}");
  EXPECT_EQ(gate.checks[0].prometheus()->success_condition->source(), "result[0] >= 3");
}

struct BadGate {
  std::string yaml;
  std::string error;
};

TEST(GateFile, EveryErrorNamesTheFileAndLine) {
  const std::vector<BadGate> cases{
      {"checks: [\n", "g.yaml:2: "},  // YAML syntax
      {"- a\n", "g.yaml: a gate file is a mapping with 'checks'"},
      {"", "g.yaml: a gate file is a mapping"},
      {"description: x\nchekcs: []\n",
       "g.yaml:2: unknown key 'chekcs' (known: description, args, checks)"},
      {"description: x\n", "g.yaml:1: missing 'checks'"},
      {"checks: []\n", "g.yaml:1: 'checks' must list at least one check"},
      {"checks:\n  - up\n", "g.yaml:2: a check is a mapping of keys"},
      {check_with("    cuont: 3\n"), "g.yaml:4: unknown key 'cuont' in a check (known: name, "},
      {check_with("    count: 2\n    count: 3\n"), "g.yaml:5: 'count' is given twice"},
      {"checks:\n  - query: up\n", "g.yaml:2: a check needs a 'name'"},
      {"checks:\n  - name: 9lives\n    query: up\n",
       "g.yaml:2: check name '9lives': letters, digits and _ - . :, not starting with a digit"},
      {"checks:\n  - name: c\n",
       "g.yaml:2: check 'c' needs either 'query' (PromQL) or 'local', "
       "and has neither"},
      {check_with("    local: {kind: noBlockingTasks}\n"),
       "g.yaml:2: check 'c' needs either 'query' (PromQL) or 'local', not both"},
      {check_with("    query2: x\n"), "g.yaml:4: unknown key 'query2'"},
      {"checks:\n  - name: c\n    query: '  '\n", "g.yaml:3: 'query' is empty"},
      {"checks:\n  - name: c\n    query: [up]\n", "g.yaml:3: 'query' must be a single value"},
      {check_with("    count:\n"), "g.yaml:4: 'count' has no value"},
      {check_with("    count: 0\n"), "g.yaml:4: 'count' must be at least 1, not 0"},
      {check_with("    count: 2.5\n    interval: 1s\n"),
       "g.yaml:4: 'count' must be a whole number, not '2.5'"},
      {check_with("    count: many\n"), "g.yaml:4: 'count' must be a whole number, not 'many'"},
      {check_with("    count: 3\n"), "g.yaml:4: 'count' 3 needs an 'interval' between"},
      {check_with("    interval: 30s\n"), "g.yaml:4: 'interval' without 'count'"},
      {check_with("    interval: 0s\n    count: 2\n"), "g.yaml:4: 'interval' must be more than 0"},
      {check_with("    interval: 30\n    count: 2\n"),
       "g.yaml:4: 'interval': '30' is not a duration: write a whole number and a unit (h, m, s, "
       "ms), e.g. 30s, 2m, 1h30m"},
      {check_with("    initialDelay: 1m30x\n"),
       "g.yaml:4: 'initialDelay': '1m30x' is not a duration"},
      {check_with("    failureLimit: -2\n"),
       "g.yaml:4: 'failureLimit' must be at least -1 (-1: no limit), not -2"},
      {check_with("    inconclusiveLimit: x\n"), "g.yaml:4: 'inconclusiveLimit' must be a whole"},
      {check_with("    consecutiveErrorLimit: -1\n"),
       "g.yaml:4: 'consecutiveErrorLimit' must be at least 0, not -1"},
      {check_with("    successCondition: result[0] = 1\n"),
       "g.yaml:4: successCondition 'result[0] = 1': '=' assigns nothing here: compare with '==' "
       "(at column 11 of the condition)"},
      {check_with("    failureCondition: result[0]\n"),
       "g.yaml:4: failureCondition 'result[0]': a condition must be true or false"},
      {check_with("  - name: c\n    query: up\n"), "g.yaml:4: check name 'c' is used twice"},
      {"checks:\n  - name: c\n    local: {}\n", "g.yaml:3: a local check needs a 'kind'"},
      {"checks:\n  - name: c\n    local: noBlockingTasks\n",
       "g.yaml:3: 'local' is a mapping with a 'kind'"},
      {"checks:\n  - name: c\n    local:\n      kind: noOops\n",
       "g.yaml:4: unknown local check kind 'noOops' (known: transitionFinished, noBlockingTasks, "
       "noNewTaint, callOverhead)"},
      {"checks:\n  - name: c\n    local:\n      kind: transitionFinished\n",
       "g.yaml:4: transitionFinished needs 'within' (e.g. 30s)"},
      {"checks:\n  - name: c\n    local:\n      kind: transitionFinished\n      within: soon\n",
       "g.yaml:5: 'within': 'soon' is not a duration"},
      {"checks:\n  - name: c\n    local:\n      kind: noBlockingTasks\n      within: 1s\n",
       "g.yaml:5: unknown key 'within' in a noBlockingTasks check (known: kind)"},
      {"checks:\n  - name: c\n    local:\n      kind: noNewTaint\n      allow: [livepatch, lp]\n",
       "g.yaml:5: 'lp' is not a taint flag lpmon knows (proprietary_module, "},
      {"checks:\n  - name: c\n    local:\n      kind: noNewTaint\n      allow: livepatch\n",
       "g.yaml:5: 'allow' is a list of taint flag names"},
      {"checks:\n  - name: c\n    local:\n      kind: callOverhead\n",
       "g.yaml:4: callOverhead needs 'max' (e.g. 5% or 0.05)"},
      {"checks:\n  - name: c\n    local:\n      kind: callOverhead\n      max: five\n",
       "g.yaml:5: 'max' must be a ratio (0.05) or a percentage (5%), not 'five'"},
      {"checks:\n  - name: c\n    local:\n      kind: callOverhead\n      max: -5%\n",
       "g.yaml:5: 'max' must be a ratio"},
      {"checks:\n  - name: c\n    local:\n      kind: noBlockingTasks\n    successCondition: "
       "result[0] == 0\n",
       "g.yaml:5: 'successCondition' is for query checks; a local check's kind is its condition"},
      {check_with("    query: up\n"), "g.yaml:4: 'query' is given twice"},
  };
  for (const BadGate& bad : cases) {
    EXPECT_THAT(load_error(bad.yaml), HasSubstr(bad.error)) << bad.yaml;
  }
}

TEST(GateFile, ArgErrors) {
  const std::vector<BadGate> cases{
      {"checks:\n  - name: c\n    query: up{i=\"{{args.instance}}\"}\n",
       "g.yaml:3: 'query' uses {{args.instance}} but the gate declares no arg 'instance' (it "
       "declares none: add it under args)"},
      {"args:\n  - name: host\n    value: h\nchecks:\n  - name: c\n    query: up\n"
       "    failureCondition: result[0] > {{args.max}}\n",
       "g.yaml:7: 'failureCondition' uses {{args.max}} but the gate declares no arg 'max' (it "
       "declares: host)"},
      {"checks:\n  - name: c\n    query: up{i=\"{{instance}}\"}\n",
       "g.yaml:3: 'query': '{{instance}}' is not a template this knows: use {{args.NAME}}"},
      {"checks:\n  - name: c\n    query: up{i=\"{{args.x\"}\n",
       "g.yaml:3: 'query': '{{' without '}}'"},
      {"args:\n  - name: instance\nchecks:\n  - name: c\n    query: up\n",
       "g.yaml:2: arg 'instance' has no value: pass --arg instance=VALUE"},
      {"args:\n  - value: x\nchecks:\n  - name: c\n    query: up\n",
       "g.yaml:2: an arg needs a 'name'"},
      {"args:\n  - name: a\n  - name: a\n    value: x\nchecks: []\n",
       "g.yaml:3: arg 'a' is declared twice"},
      {"args:\n  - name: a b\nchecks: []\n", "g.yaml:2: arg name 'a b': letters, digits, _ and -"},
      {"args:\n  - name: a\n    default: x\nchecks: []\n",
       "g.yaml:3: unknown key 'default' in an arg (known: name, value)"},
      {"args: {a: 1}\nchecks: []\n", "g.yaml:1: 'args' is a list of {name, value}"},
  };
  for (const BadGate& bad : cases) {
    EXPECT_THAT(load_error(bad.yaml), HasSubstr(bad.error)) << bad.yaml;
  }
}

TEST(GateFile, ArgsFromTheCommandLineAreChecked) {
  const std::string yaml =
      "args:\n  - name: instance\n    value: h\nchecks:\n  - name: c\n    query: up\n";
  EXPECT_EQ(load_error(yaml, {{"instanse", "h1"}}),
            "--arg instanse: g.yaml declares no arg 'instanse' (it declares: instance)");
  for (const char* bad : {"h\"} or vector(1) #", "h'", "h`", "h\\", "h\nx"}) {
    EXPECT_THAT(load_error(yaml, {{"instance", bad}}),
                HasSubstr("--arg instance: the value may not hold quotes, backslashes or control "
                          "characters"))
        << bad;
  }
  // Regular expressions for a wave of hosts are what args are for.
  EXPECT_EQ(parse(yaml, {{"instance", "web-(1|2|3)[.]example:9812"}}).arg_values.at("instance"),
            "web-(1|2|3)[.]example:9812");
}

class GateFileOnDisk : public ::testing::Test {
 protected:
  fs::path path_ = fs::temp_directory_path() / ("lpmon-gate-" + std::to_string(getpid()) + ".yaml");
  void TearDown() override { fs::remove(path_); }
};

TEST_F(GateFileOnDisk, LoadsAFileAndNamesItInErrors) {
  std::ofstream(path_) << check_with("    count: 0\n");
  try {
    load_gate_file(path_);
    FAIL() << "loaded a gate with count 0";
  } catch (const GateFileError& e) {
    EXPECT_EQ(std::string(e.what()), path_.string() + ":4: 'count' must be at least 1, not 0");
  }
  std::ofstream(path_) << check_with("");
  EXPECT_EQ(load_gate_file(path_).checks.at(0).name, "c");
}

TEST_F(GateFileOnDisk, RefusesMissingAndHugeFiles) {
  EXPECT_THROW(
      {
        try {
          load_gate_file(path_);
        } catch (const GateFileError& e) {
          EXPECT_EQ(std::string(e.what()), path_.string() + ": no such gate file");
          throw;
        }
      },
      GateFileError);
  std::ofstream(path_) << "# " << std::string(2u << 20, 'x') << "\n" << check_with("");
  EXPECT_THROW(load_gate_file(path_), GateFileError);
}

}  // namespace
}  // namespace lpmon::gate
