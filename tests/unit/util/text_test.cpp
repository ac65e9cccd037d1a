// lpmon::text, and the commands that print task names through it: a task's name is any bytes
// its owner chose (prctl(PR_SET_NAME), /proc/self/comm).
#include "lpmon/util/text.hpp"

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fixtures.hpp"
#include "status.hpp"
#include "trace.hpp"

namespace lpmon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ValidUtf8, ValidTextPassesUnchanged) {
  EXPECT_EQ(text::valid_utf8("kworker/0:1"), "kworker/0:1");
  EXPECT_EQ(text::valid_utf8("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x90\xa7"),
            "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x90\xa7");
  // Control characters are valid UTF-8: the JSON writer escapes them.
  EXPECT_EQ(text::valid_utf8("a\x1b[2Jb"), "a\x1b[2Jb");
}

TEST(ValidUtf8, EachInvalidByteBecomesHex) {
  EXPECT_EQ(text::valid_utf8("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(text::valid_utf8("ab\xe6\x97"), "ab\\xe6\\x97");                // cut short
  EXPECT_EQ(text::valid_utf8("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(text::valid_utf8("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(text::valid_utf8("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(text::valid_utf8("\xe9x"), "\\xe9x");  // Latin-1, then ASCII again
}

TEST(Printable, PlainAndUnicodeTextPasses) {
  EXPECT_EQ(text::printable("lpmon_park/0"), "lpmon_park/0");
  EXPECT_EQ(text::printable("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(Printable, EscapeSequencesCannotReachTheTerminal) {
  EXPECT_EQ(text::printable("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(text::printable("a\rb\nc\td\x7f"), "a\\x0db\\x0ac\\x09d\\x7f");
  EXPECT_EQ(text::printable("\xc2\x9b"
                            "2J"),
            "\\u{009b}2J");  // C1 CSI, as UTF-8
  EXPECT_EQ(text::printable("\x9b"
                            "2J"),
            "\\x9b2J");  // C1 CSI, raw byte
  EXPECT_EQ(text::printable("\xe2\x80\xae"
                            "cba"),
            "\\u{202e}cba");  // right-to-left override
}

TEST(Printable, BackslashIsEscapedSoTheOutputIsUnambiguous) {
  EXPECT_EQ(text::printable("a\\x1b"), "a\\\\x1b");
  EXPECT_EQ(text::printable("\xff"), "\\xff");
}

constexpr const char* kHostileName = "\xff\xfe\x1b]0;owned\x07\x1b[2J";

TEST(TraceOutput, BlockedTaskWithAHostileNameIsValidJsonAndSafeText) {
  bpf::TaskBlockedEvent event;
  event.patch = "p";
  event.pid = event.tgid = 7;
  event.state = 'S';
  event.comm = kHostileName;
  const auto wall = std::chrono::system_clock::time_point{};
  std::string json_text;
  ASSERT_NO_THROW(json_text = cli::task_blocked_to_json(event, wall).dump());
  EXPECT_EQ(nlohmann::json::parse(json_text).at("comm"), "\\xff\\xfe\x1b]0;owned\x07\x1b[2J");
  const std::string line = cli::format_task_blocked_text(event, wall);
  EXPECT_THAT(line, HasSubstr("[\\xff\\xfe\\x1b]0;owned\\x07\\x1b[2J]"));
  EXPECT_THAT(line, Not(HasSubstr("\x1b")));
}

TEST(TraceOutput, TaskScanWithAHostileNameIsValidJsonAndSafeText) {
  bpf::TaskStateScan scan;
  bpf::TaskStateTask task;
  task.pid = task.tgid = 9;
  task.comm = kHostileName;
  scan.not_at_target.push_back(task);
  ASSERT_NO_THROW((void)cli::task_scan_to_json(scan, 1, "p").dump());
  EXPECT_THAT(cli::format_task_scan_text(scan, 1, "p"), Not(HasSubstr("\x1b")));
}

TEST(StatusOutput, PendingTaskWithAHostileNameIsValidJsonAndSafeText) {
  namespace fs = std::filesystem;
  const fs::path root =
      fs::path(::testing::TempDir()) / ("lpmon-hostile-comm." + std::to_string(::getpid()));
  fs::remove_all(root);
  const KernelPaths fixture = testing::fixture("linux-6.14-transition");
  fs::copy(fs::path(fixture.sysfs).parent_path(), root, fs::copy_options::recursive);
  const KernelPaths paths{.sysfs = root / "sys", .procfs = root / "proc"};
  std::ofstream(root / "proc/17/stat")
      << "17 (" << kHostileName << ") S 1 17 17 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 300\n";

  const cli::StatusReport report = cli::build_status_report(paths);
  std::string json_text;
  ASSERT_NO_THROW(json_text = cli::status_to_json(report).dump());
  EXPECT_THAT(json_text, HasSubstr(R"("comm":"\\xff\\xfe\u001b]0;owned\u0007\u001b[2J")"));
  const std::string text = cli::render_status_text(report);
  EXPECT_THAT(text, HasSubstr("17 \\xff\\xfe\\x1b]0;owned\\x07\\x1b[2J (S)"));
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  fs::remove_all(root);
}

}  // namespace
}  // namespace lpmon
