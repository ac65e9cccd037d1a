// lpmon verify's host side on a guest's record written here (the files verify-guest.sh
// leaves in /out): the verdict and its reasons, the warnings, and the HTML page.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lpmon/gate/gate_file.hpp"
#include "verify/verify.hpp"

namespace lpmon::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kWarning =
    "[   22.519180] WARNING: CPU: 1 PID: 677 at fix.c:6 warn_cmdline_proc_show+0x5/0x1a\n"
    "[   22.519491] Modules linked in: lpmon_warn(OEK)\n"
    "[   22.522427] RIP: 0010:warn_cmdline_proc_show+0x5/0x1a [lpmon_warn]\n"
    "[   22.529473] ---[ end trace 0000000000000000 ]---\n";

const char* kGate = R"(checks:
  - name: transition
    local:
      kind: transitionFinished
      within: 30s
  - name: no-new-taint
    local:
      kind: noNewTaint
)";

std::string calls_line(const char* function, int calls, int total_ns) {
  return json{{"type", "calls"},
              {"object", "vmlinux"},
              {"function", function},
              {"calls", calls},
              {"timed", calls},
              {"total_ns", total_ns},
              {"latency_ns", {{{"low", 1024}, {"high", 2047}, {"count", calls}}}}}
             .dump() +
         "\n";
}

// A guest run of a one-function patch that went well; tests spoil one thing each.
class VerifyReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lpmon-verify-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write("functions.txt", "vmlinux:cmdline_proc_show\n");
    write("workload-unpatched.log", "exercised vmlinux:cmdline_proc_show\n");
    write("phases.txt",
          "3.0 boot\n5.0 baseline\n7.0 baseline-end\n7.5 apply\n9.0 apply-end\n9.1 patched\n"
          "11.0 patched-end\n11.1 bake\n16.0 bake-end\n16.1 revert\n18.0 revert-end\n18.5 end\n");
    write("calls-unpatched.jsonl", calls_line("cmdline_proc_show", 50, 50000));
    write("calls-patched.jsonl", calls_line("cmdline_proc_show", 50, 60000));
    write("apply.rc", "0\n");
    write("apply.json", R"({"result":"applied","changed":true,"message":"applied",
        "transition":{"duration_seconds":1.2,"rounds":2,
                      "blocking_tasks":[{"pid":0,"comm":"swapper/0","reason":"running"}]}})");
    write("revert.rc", "0\n");
    write("revert.json", R"({"result":"reverted","changed":true,"message":"reverted"})");
    write("taint-before.txt", "12288\n");  // O E
    write("taint-after.txt", "45056\n");   // O E K
    write("taint-end.txt", "45056\n");
    write("dmesg-before.txt", "[    1.0] boot\n");
    write("dmesg-after.txt", "[    1.0] boot\n[    8.0] livepatch: enabling patch 'p'\n");
    write("dmesg-end.txt", "[    1.0] boot\n[    8.0] livepatch: enabling patch 'p'\n");
    write(
        "trace.jsonl",
        R"({"type":"transition","event":"start","patch":"p","direction":"patching","monotonic_ns":7600000000,"rounds":0}
{"type":"transition","event":"end","patch":"p","direction":"patching","monotonic_ns":8800000000,"rounds":2,"result":"complete","duration_seconds":1.2}
)");
    write("done.txt", "done\n");
    run_.patch_file = "p.ko";
    run_.patch_name = "p";
    run_.release = "6.1.0-56-amd64";
    run_.kernel_source = "package linux-image-6.1.0-56-amd64";
    run_.accel = "tcg";
    run_.accel_reason = "test";
    run_.guest_finished = true;
    run_.guest_dir = dir_.string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  json report() {
    return build_verify_report(run_, dir_, gate::parse_gate_file(kGate, "gate.yaml"));
  }

  fs::path dir_;
  VerifyRun run_;
};

TEST_F(VerifyReportTest, CleanRunIsSuccessful) {
  const json r = report();
  EXPECT_EQ(r["verdict"], "Successful") << r.dump(2);
  EXPECT_EQ(r["exitCode"], 0);
  EXPECT_TRUE(r["loaded"].get<bool>());
  EXPECT_TRUE(r["transitioned"].get<bool>());
  ASSERT_EQ(r["calls"].size(), 1u);
  EXPECT_EQ(r["calls"][0]["unpatched"]["calls"], 50);
  EXPECT_DOUBLE_EQ(r["calls"][0]["overhead"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(r["call_overhead"].get<double>(), 0.2);
  // A task that held up a round of a transition that finished blocks nothing.
  EXPECT_EQ(r["gate"]["verdict"], "Successful");
  EXPECT_EQ(r["transition"]["blocking_tasks"].size(), 1u);
  EXPECT_EQ(r["taint"]["unexpected_flags"], json::array());
  ASSERT_EQ(r["timeline"]["transitions"].size(), 1u);
  EXPECT_DOUBLE_EQ(r["timeline"]["transitions"][0]["start"].get<double>(), 7.6);
  EXPECT_EQ(r["timeline"]["phases"].size(), 5u);
}

TEST_F(VerifyReportTest, WarningFailsWithItsText) {
  write("dmesg-after.txt", std::string("[    1.0] boot\n") + kWarning);
  write("dmesg-end.txt", std::string("[    1.0] boot\n") + kWarning);
  write("taint-after.txt", std::to_string(45056 | 512) + "\n");  // + W
  write("taint-end.txt", std::to_string(45056 | 512) + "\n");
  const json r = report();
  EXPECT_EQ(r["verdict"], "Failed");
  EXPECT_EQ(r["exitCode"], 1);
  ASSERT_EQ(r["kernel_warnings"].size(), 1u);
  EXPECT_THAT(r["kernel_warnings"][0].get<std::string>(), HasSubstr("RIP: 0010:warn_cmdline"));
  EXPECT_EQ(r["taint"]["unexpected_flags"], json::array({"warn"}));
  EXPECT_EQ(r["gate"]["verdict"], "Failed");
  EXPECT_THAT(render_verify_html(r), HasSubstr("warn_cmdline_proc_show+0x5/0x1a"));
}

TEST_F(VerifyReportTest, UncalledFunctionIsInconclusive) {
  write("calls-patched.jsonl", calls_line("cmdline_proc_show", 0, 0));
  const json r = report();
  EXPECT_EQ(r["verdict"], "Inconclusive");
  EXPECT_EQ(r["exitCode"], 2);
  EXPECT_THAT(r["message"].get<std::string>(), HasSubstr("never called"));
}

TEST_F(VerifyReportTest, RefusedApplyFails) {
  write("apply.rc", "12\n");
  write("apply.json", R"({"result":"reverted","message":"gate failed"})");
  write("revert.rc", "0\n");
  const json r = report();
  EXPECT_EQ(r["verdict"], "Failed");
  EXPECT_TRUE(r["loaded"].get<bool>());
  EXPECT_FALSE(r["transitioned"].get<bool>());
  EXPECT_THAT(r["message"].get<std::string>(), HasSubstr("exited 12: gate failed"));
}

TEST_F(VerifyReportTest, UncleanUnloadFails) {
  write("unload.txt", "module p is still loaded\n");
  const json r = report();
  EXPECT_EQ(r["verdict"], "Failed");
  EXPECT_FALSE(r["unload"]["clean"].get<bool>());
}

TEST_F(VerifyReportTest, GuestThatDiedIsAnError) {
  fs::remove(dir_ / "done.txt");
  run_.guest_finished = false;
  run_.guest_log_tail = "last words";
  const json r = report();
  EXPECT_EQ(r["verdict"], "Error");
  EXPECT_EQ(r["exitCode"], 3);
}

TEST_F(VerifyReportTest, GuestKernelCrashIsAFailure) {
  run_.guest_finished = false;
  run_.console_crash = "BUG: kernel NULL pointer dereference";
  const json r = report();
  EXPECT_EQ(r["verdict"], "Failed");
  EXPECT_THAT(r["message"].get<std::string>(), HasSubstr("NULL pointer"));
}

TEST_F(VerifyReportTest, HtmlIsSelfContainedWithCharts) {
  const std::string html = render_verify_html(report());
  EXPECT_THAT(html, HasSubstr("<svg id=\"timeline\""));
  EXPECT_THAT(html, HasSubstr("<svg id=\"function-0\""));
  EXPECT_THAT(html, HasSubstr("fill=\"#1f77b4\""));  // unpatched bars
  EXPECT_THAT(html, HasSubstr("fill=\"#ff7f0e\""));  // patched bars
  // Nothing to fetch: no scripts, style sheets or images from elsewhere.
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
}

TEST(KernelReports, SplitsReportsAndStopsAtTheirEnd) {
  const auto reports = kernel_reports(std::string("[ 1.0] fine\n") + kWarning +
                                      "[ 30.0] after the trace\n[ 31.0] BUG: unable to handle\n");
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_THAT(reports[0], HasSubstr("end trace"));
  EXPECT_THAT(reports[0], Not(HasSubstr("after the trace")));
  EXPECT_THAT(reports[1], HasSubstr("BUG: unable to handle"));
  EXPECT_TRUE(kernel_reports("[ 1.0] nothing wrong\n").empty());
}

}  // namespace
}  // namespace lpmon::cli
