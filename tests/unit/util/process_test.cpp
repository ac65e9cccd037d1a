// The one way lpmon runs another program (lpmon build's tools, lpmon verify's guest).
#include "lpmon/util/process.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace lpmon {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(RunProcess, CapturesStdoutAndStderrAndTheExitStatus) {
  const ProcessResult r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.output.find("out\n"), std::string::npos);
  EXPECT_NE(r.output.find("err\n"), std::string::npos);
}

TEST(RunProcess, CaptureStdoutLeavesStderrOut) {
  const ProcessResult r = run_process({"sh", "-c", "echo out; echo err >&2"},
                                      {.output = ProcessOutput::capture_stdout});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "out\n");
}

TEST(RunProcess, StdinIsEmpty) {
  const ProcessResult r = run_process({"sh", "-c", "cat; echo end"});
  EXPECT_EQ(r.output, "end\n");
}

TEST(RunProcess, ASignalIs128PlusItsNumber) {
  EXPECT_EQ(run_process({"sh", "-c", "kill -9 $$"}).status, 128 + 9);
}

TEST(RunProcess, AProgramThatCannotStartSaysWhy) {
  const ProcessResult r = run_process({"/nonexistent/lpmon-no-such-program"});
  EXPECT_EQ(r.status, -1);
  EXPECT_NE(r.output.find("lpmon-no-such-program"), std::string::npos);
  EXPECT_EQ(run_process({}).status, -1);
}

TEST(RunProcess, RunsInCwdWithAddedEnvironment) {
  const fs::path dir = fs::temp_directory_path();
  const ProcessResult r = run_process({"sh", "-c", "pwd; echo \"$LPMON_TEST_VALUE\""},
                                      {.cwd = dir, .env = {"LPMON_TEST_VALUE=forty-two"}});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, fs::canonical(dir).string() + "\nforty-two\n");
}

TEST(RunProcess, ALogFileGetsBothStreamsAndIsTruncated) {
  const fs::path log =
      fs::temp_directory_path() / ("lpmon-process-test-" + std::to_string(getpid()));
  std::ofstream(log) << "old contents\n";
  EXPECT_EQ(run_process({"sh", "-c", "echo out; echo err >&2; exit 1"},
                        {.output = ProcessOutput::log_file, .log = log})
                .status,
            1);
  EXPECT_EQ(read_all(log), "out\nerr\n");
  fs::remove(log);
}

TEST(RunProcess, TheTickRunsAtLeastOnceAtTheEnd) {
  for (const ProcessOutput output : {ProcessOutput::capture, ProcessOutput::our_stderr}) {
    int ticks = 0;
    const ProcessResult r =
        run_process({"sh", "-c", "sleep 0.5"}, {.output = output, .tick = [&] { ++ticks; }});
    EXPECT_EQ(r.status, 0);
    // At least the final tick; how many more depends on the machine's speed.
    EXPECT_GE(ticks, 1);
  }
}

TEST(LastLines, KeepsTheLastLinesIndented) {
  EXPECT_EQ(last_lines("a\nb\nc\n", 2), "  b\n  c\n");
  EXPECT_EQ(last_lines("a", 5), "  a\n");
  EXPECT_EQ(last_lines("", 3), "");
}

}  // namespace
}  // namespace lpmon
