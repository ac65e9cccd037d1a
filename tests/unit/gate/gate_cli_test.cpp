#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gate.hpp"
#include "gate_fakes.hpp"
#include "run_lpmon.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using gate::testing::FakeClock;
using gate::testing::FakePrometheus;
using gate::testing::vector_of;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using namespace std::chrono_literals;

using testing::lpmon;
using testing::Outcome;

class GateFileFixture : public ::testing::Test {
 protected:
  fs::path write(const std::string& yaml) {
    const fs::path path =
        fs::temp_directory_path() / ("lpmon-gate-cli-" + std::to_string(getpid()) + "-" +
                                     std::to_string(files_.size()) + ".yaml");
    std::ofstream(path) << yaml;
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& f : files_) fs::remove(f);
  }
  std::vector<fs::path> files_;
};

const std::string kWave = R"(description: wave 1
args:
  - name: instance
checks:
  - name: patch-enabled
    query: min(lpmon_patch_enabled{instance=~"{{args.instance}}"})
    successCondition: result[0] == 1
    interval: 30s
    count: 2
  - name: taint
    local:
      kind: noNewTaint
)";

using GateCli = GateFileFixture;

TEST_F(GateCli, HelpListsTheGatesOwnExitCodes) {
  const Outcome help = lpmon({"gate", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Usage: lpmon gate [OPTIONS] FILE"));
  EXPECT_THAT(help.out, HasSubstr("Exit codes (lpmon gate's own, unlike other lpmon commands):\n"
                                  "   0  Successful"));
  EXPECT_THAT(help.out, HasSubstr("   2  Inconclusive"));
  EXPECT_THAT(help.out, HasSubstr("   6  invalid command line, gate file or --arg"));
  EXPECT_THAT(lpmon({"--help"}).out, HasSubstr("lpmon gate has its own codes"));
}

TEST_F(GateCli, WrongInputIsSixNeverAVerdict) {
  const fs::path wave = write(kWave);
  const std::vector<std::vector<std::string>> cases{
      {"gate"},
      {"gate", wave, "--bogus"},
      {"gate", wave, "--arg", "instance=h1", "--prometheus"},
      {"gate", wave, "extra.yaml", "--arg", "instance=h1"},
      {"gate", wave, "--arg", "instance"},
      {"gate", wave, "--arg", "instance=a", "--arg", "instance=b", "--dry-run"},
      {"gate", wave, "--arg", "instance=h1"},  // no --prometheus
      {"gate", wave, "--arg", "instance=h1", "--prometheus", "localhost:9090"},
      {"gate", wave, "--arg", "instance=h1", "--prometheus", "http://p", "--timeout", "10s"},
      {"gate", wave, "--arg", "instance=h1", "--prometheus", "http://p", "--timeout", "10"},
      {"gate", wave, "--arg", "instance=h1", "--prometheus", "http://p", "--query-timeout", "0s"},
      {"gate", wave, "--arg", "instance=h1", "--prometheus", "http://p",
       "--prometheus-password-file", "/etc/hostname"},
      {"gate", wave, "--arg", "instance=h1", "--prometheus", "http://p", "--prometheus-user", "u",
       "--prometheus-password-file", "/nonexistent"},
      {"gate", wave, "--arg", "instance=h1", "--prometheus", "http://p", "--ca-file",
       "/nonexistent"},
      {"gate", wave, "--dry-run"},  // instance has no value
      {"gate", "/nonexistent.yaml", "--dry-run"},
      {"gate", write("checks:\n  - name: c\n    query: up\n    count: 0\n"), "--dry-run"},
      {"gate", write("checks:\n  - name: t\n    local: {kind: noBlockingTasks}\n"), "--prometheus",
       "http://p"},
  };
  for (const auto& args : cases) {
    const Outcome outcome = lpmon(args);
    std::string line;
    for (const auto& a : args) line += a + " ";
    EXPECT_EQ(outcome.exit_code, 6) << line << "\n" << outcome.err;
    EXPECT_THAT(outcome.err, HasSubstr("lpmon gate: ")) << line;
    EXPECT_THAT(outcome.out, IsEmpty()) << line;
  }
}

TEST_F(GateCli, ErrorsSayWhatToFix) {
  const fs::path wave = write(kWave);
  EXPECT_EQ(lpmon({"gate", wave, "--dry-run"}).err,
            "lpmon gate: " + wave.string() +
                ":3: arg 'instance' has no value: pass --arg "
                "instance=VALUE\n");
  EXPECT_EQ(
      lpmon({"gate", wave, "--arg", "instance=h1", "--prometheus", "http://p", "--timeout", "10s"})
          .err,
      "lpmon gate: --timeout 10s is shorter than the gate's shortest run (30s)\n");
  EXPECT_EQ(lpmon({"gate", wave, "--arg", "instance=h1"}).err,
            "lpmon gate: --prometheus URL is required (or --dry-run)\n");
  EXPECT_EQ(lpmon({"gate", wave, "--arg", "instance=h1", "--prometheus", "localhost:9090"}).err,
            "lpmon gate: --prometheus: 'localhost:9090' is not an http:// or https:// URL\n");
}

TEST_F(GateCli, DryRunPrintsThePlanAndQueriesNothing) {
  const fs::path wave = write(kWave);
  const Outcome plan = lpmon(
      {"gate", wave, "--arg", "instance=h1|h2", "--dry-run", "--prometheus", "http://127.0.0.1:1"});
  EXPECT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_EQ(plan.out,
            "gate " + wave.string() +
                ": 2 checks, at least 30s\n"
                "  wave 1\n"
                "  arg instance = h1|h2\n"
                "  patch-enabled: query, 2 measurements every 30s\n"
                "    query:            min(lpmon_patch_enabled{instance=~\"h1|h2\"})\n"
                "    successCondition: result[0] == 1\n"
                "    limits:           failures 0, inconclusive 0, consecutive errors 4\n"
                "  taint: local noNewTaint (allowed: oot_module, unsigned_module, "
                "livepatch), 1 measurement\n"
                "    evaluated on the host by lpmon apply; lpmon gate skips it\n"
                "    limits:           failures 0, inconclusive 0, consecutive errors 4\n");

  // Options before the file, each --arg taking one value.
  const Outcome json = lpmon({"gate", "--arg", "instance=h1", wave, "--dry-run", "--json"});
  EXPECT_EQ(json.exit_code, 0);
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j.at("dryRun"), true);
  EXPECT_EQ(j.at("args").at("instance"), "h1");
  EXPECT_EQ(j.at("checks").at(0).at("query"), "min(lpmon_patch_enabled{instance=~\"h1\"})");
  EXPECT_EQ(j.at("checks").at(0).at("interval"), "30s");
  EXPECT_EQ(j.at("checks").at(1).at("local"), "noNewTaint");
}

TEST_F(GateCli, UnreachablePrometheusIsExitThreeWithOneLine) {
  const fs::path wave = write(kWave);
  // Port 1 on loopback: nothing listens there.
  const Outcome outcome =
      lpmon({"gate", wave, "--arg", "instance=h1", "--prometheus", "http://127.0.0.1:1"});
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_THAT(outcome.err, HasSubstr("lpmon gate: error: cannot reach Prometheus at "
                                     "http://127.0.0.1:1: "));
  EXPECT_EQ(std::count(outcome.err.begin(), outcome.err.end(), '\n'), 1) << outcome.err;
}

TEST(GateExitCodes, FollowTheVerdict) {
  EXPECT_EQ(exit_code_of(gate::Phase::successful), 0);
  EXPECT_EQ(exit_code_of(gate::Phase::failed), 1);
  EXPECT_EQ(exit_code_of(gate::Phase::inconclusive), 2);
  EXPECT_EQ(exit_code_of(gate::Phase::error), 3);
}

class GateRun : public GateFileFixture {
 protected:
  Outcome run(const std::string& yaml, bool json) {
    gate_ = gate::parse_gate_file(yaml, "wave.yaml", {{"instance", "h1"}});
    GateRequest request;
    request.file = "wave.yaml";
    request.args = {{"instance", "h1"}};
    request.prometheus_url = "http://prom:9090";
    request.json = json;
    std::ostringstream out, err;
    const int code = run_and_report_gate(gate_, request, &prometheus_, clock_, out, err);
    return {code, out.str(), err.str()};
  }
  FakeClock clock_;
  FakePrometheus prometheus_{clock_};
  gate::GateFile gate_;
};

TEST_F(GateRun, HumanOutputShowsEachMeasurementAndTheVerdict) {
  gate::QueryResult failing = vector_of({1, 0});
  prometheus_.script("min(lpmon_patch_enabled{instance=~\"h1\"})", {vector_of({1}), failing});
  const std::string yaml = R"(args:
  - name: instance
checks:
  - name: patch-enabled
    query: min(lpmon_patch_enabled{instance=~"{{args.instance}}"})
    successCondition: all(result, {# == 1})
    interval: 30s
    count: 3
  - name: taint
    local:
      kind: noNewTaint
)";
  const Outcome outcome = run(yaml, false);
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.err, IsEmpty());
  EXPECT_EQ(outcome.out,
            "gate wave.yaml: 2 checks against http://prom:9090, at least 1m\n"
            "22:13:20Z  patch-enabled  #1 Successful [1]\n"
            "22:13:50Z  patch-enabled  #2 Failed [1, 0]  successCondition does not hold: "
            "all(result, {# == 1})\n"
            "      {instance=\"host0\"} [1]\n"
            "      {instance=\"host1\"} [0]\n"
            "22:13:50Z  patch-enabled  => Failed: failed (1) > failureLimit (0)\n"
            "verdict: Failed (exit 1): patch-enabled: failed (1) > failureLimit (0)\n"
            "  patch-enabled  Failed        2/3 measured: 1 successful, 1 failed, 0 inconclusive, "
            "0 errors; failed (1) > failureLimit (0)\n"
            "  taint          Skipped       a local check: lpmon apply evaluates it on the host\n");
}

TEST_F(GateRun, JsonHasEveryMeasurementAndProgressGoesToStderr) {
  prometheus_.script("up", {std::string("HTTP 503"), vector_of({1}),
                            vector_of({std::numeric_limits<double>::quiet_NaN()})});
  const Outcome outcome =
      run("args:\n  - name: instance\nchecks:\n  - name: up\n    query: up\n    successCondition: "
          "result[0] >= 1\n"
          "    failureCondition: result[0] < 1\n    interval: 10s\n    count: 2\n"
          "    inconclusiveLimit: 1\n",
          true);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_THAT(outcome.err, HasSubstr("#1 Error  HTTP 503\n"));
  EXPECT_THAT(outcome.err, HasSubstr("#3 Inconclusive [NaN]"));
  const auto j = nlohmann::json::parse(outcome.out);
  EXPECT_EQ(j.at("verdict"), "Successful");
  EXPECT_EQ(j.at("exitCode"), 0);
  EXPECT_EQ(j.at("prometheus"), "http://prom:9090");
  EXPECT_EQ(j.at("startedAt"), "2023-11-14T22:13:20.000Z");
  const auto& check = j.at("checks").at(0);
  EXPECT_EQ(check.at("phase"), "Successful");
  EXPECT_EQ(check.at("measured"), 2);
  EXPECT_EQ(check.at("errors"), 1);
  const auto& m = check.at("measurements");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].at("phase"), "Error");
  EXPECT_EQ(m[0].at("message"), "HTTP 503");
  EXPECT_EQ(m[1].at("phase"), "Successful");
  EXPECT_EQ(m[1].at("startedAt"), "2023-11-14T22:13:30.000Z");  // retried 10 s later
  EXPECT_EQ(m[1].at("value"), nlohmann::json::array({1}));
  EXPECT_EQ(m[1].at("series").at(0).at("labels").at("instance"), "host0");
  EXPECT_EQ(m[2].at("value"), nlohmann::json::array({"NaN"}));  // JSON has no NaN
  EXPECT_EQ(m[2].at("phase"), "Inconclusive");
}

}  // namespace
}  // namespace lpmon::cli
