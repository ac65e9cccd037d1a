// The lock, the journal and the signal guard of apply and revert, on a temporary directory.
#include "lpmon/rollout/transaction.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "fake_kernel_tree.hpp"
#include "lpmon/rollout/recovery.hpp"

namespace lpmon::rollout {
namespace {

namespace fs = std::filesystem;

class TransactionTest : public ::testing::Test {
 protected:
  StatePaths state() const {
    const fs::path root = tree_.paths().sysfs.parent_path();
    return {.run_dir = root / "run/lpmon", .state_dir = root / "var/lib/lpmon"};
  }
  static JournalEntry entry(const std::string& step) {
    return {.command = "apply",
            .pid = 4242,
            .started = "2026-12-04T22:00:00Z",
            .patch = "lpmon_fixes_v2",
            .module = "/tmp/lpmon_fixes_v2.ko",
            .srcversion = "33F2B0DBF31D76F6CEA3CC9",
            .was_enabled = false,
            .was_loaded = true,
            .step = step};
  }
  testing::FakeKernelTree tree_;
};

TEST_F(TransactionTest, AnEmptyJournalHasNoRun) {
  const auto read = Journal(state().journal_file()).read();
  ASSERT_TRUE(std::holds_alternative<std::optional<JournalEntry>>(read));
  EXPECT_FALSE(std::get<std::optional<JournalEntry>>(read).has_value());
}

TEST_F(TransactionTest, TheJournalKeepsTheLastStepWrittenUntilCleared) {
  const Journal journal(state().journal_file());
  ASSERT_FALSE(journal.write(entry("load")));
  ASSERT_FALSE(journal.write(entry("gate")));
  auto read = journal.read();
  ASSERT_TRUE(std::holds_alternative<std::optional<JournalEntry>>(read));
  const auto& e = std::get<std::optional<JournalEntry>>(read);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->step, "gate");
  EXPECT_EQ(e->patch, "lpmon_fixes_v2");
  EXPECT_EQ(e->srcversion, "33F2B0DBF31D76F6CEA3CC9");
  EXPECT_EQ(e->pid, 4242);
  EXPECT_TRUE(e->was_loaded);
  // Written whole and renamed: no temporary file is left beside it.
  EXPECT_FALSE(fs::exists(journal.file().string() + ".new"));
  ASSERT_FALSE(journal.clear());
  EXPECT_FALSE(fs::exists(journal.file()));
  EXPECT_FALSE(journal.clear());  // clearing twice is no error
}

TEST_F(TransactionTest, AJournalThatMakesNoSenseIsAnErrorAndIsKept) {
  const Journal journal(state().journal_file());
  testing::FakeKernelTree::write(journal.file(), "{\"command\": \"rm -rf\", \"patch\": \"x\"}");
  auto read = journal.read();
  ASSERT_TRUE(std::holds_alternative<Error>(read));
  EXPECT_NE(std::get<Error>(read).message.find("makes no sense"), std::string::npos);
  EXPECT_TRUE(fs::exists(journal.file()));
  // A patch name must be a module name: it is written to sysfs paths later.
  JournalEntry bad = entry("load");
  bad.patch = "../../x";
  ASSERT_FALSE(journal.write(bad));
  EXPECT_TRUE(std::holds_alternative<Error>(journal.read()));
}

TEST_F(TransactionTest, ASecondRunWithoutWaitingIsRefused) {
  auto first = RunLock::acquire(state(), false, {});
  ASSERT_TRUE(std::holds_alternative<RunLock>(first));
  EXPECT_EQ(lock_holder(state()), ::getpid());
  auto second = RunLock::acquire(state(), false, {});
  ASSERT_TRUE(std::holds_alternative<Error>(second));
  EXPECT_EQ(std::get<Error>(second).code, ExitCode::locked);
  EXPECT_NE(std::get<Error>(second).message.find("pid " + std::to_string(::getpid())),
            std::string::npos);
}

TEST_F(TransactionTest, TheLockGoesWithItsHolder) {
  EXPECT_FALSE(lock_holder(state()).has_value());
  {
    auto first = RunLock::acquire(state(), false, {});
    ASSERT_TRUE(std::holds_alternative<RunLock>(first));
  }
  EXPECT_FALSE(lock_holder(state()).has_value());
  EXPECT_TRUE(std::holds_alternative<RunLock>(RunLock::acquire(state(), false, {})));
}

TEST_F(TransactionTest, ASecondRunWaitsForTheFirst) {
  std::optional<std::variant<RunLock, Error>> first = RunLock::acquire(state(), false, {});
  ASSERT_TRUE(std::holds_alternative<RunLock>(*first));
  std::promise<std::string> told;
  std::atomic<bool> got{false};
  auto second = std::async(std::launch::async, [&] {
    auto lock =
        RunLock::acquire(state(), true, [&](const std::string& line) { told.set_value(line); });
    got = std::holds_alternative<RunLock>(lock);
    return got.load();
  });
  const std::string line = told.get_future().get();  // it is waiting, and said so
  EXPECT_NE(line.find("waiting for another lpmon apply or revert"), std::string::npos);
  EXPECT_FALSE(got.load());
  first.reset();  // the first run ends
  EXPECT_TRUE(second.get());
}

TEST_F(TransactionTest, StatusTellsARunningFromAnInterruptedRun) {
  ASSERT_FALSE(Journal(state().journal_file()).write(entry("transition")));
  RunState runs = run_state(state());
  ASSERT_TRUE(runs.unfinished.has_value());
  EXPECT_EQ(runs.unfinished->step, "transition");
  EXPECT_FALSE(runs.running.has_value());
  auto lock = RunLock::acquire(state(), false, {});
  ASSERT_TRUE(std::holds_alternative<RunLock>(lock));
  runs = run_state(state());
  EXPECT_FALSE(runs.unfinished.has_value());
  ASSERT_TRUE(runs.running.has_value());
  EXPECT_EQ(runs.lock_holder, ::getpid());
}

TEST_F(TransactionTest, SignalsAreCaughtWhileTheGuardLives) {
  SignalGuard guard;
  EXPECT_EQ(SignalGuard::caught(), 0);
  ASSERT_EQ(::raise(SIGTERM), 0);  // would end the test binary without the guard
  EXPECT_EQ(SignalGuard::caught(), SIGTERM);
  ASSERT_EQ(::raise(SIGINT), 0);
  EXPECT_EQ(SignalGuard::caught(), SIGTERM);  // the first one is the one reported
  EXPECT_EQ(SignalGuard::name(SIGHUP), "SIGHUP");
}

}  // namespace
}  // namespace lpmon::rollout
