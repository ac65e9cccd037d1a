#include "lpmon/kernel_log.hpp"

#include <gtest/gtest.h>

namespace lpmon {
namespace {

TEST(KernelLogRecord, ParsesTheHeaderAndTheFirstLine) {
  KernelLogRecord record;
  ASSERT_TRUE(parse_kmsg_record(
      "4,1234,5678901,-;WARNING: CPU: 1 PID: 42 at fix.c:10 f+0x1/0x2\n SUBSYSTEM=x\n", record));
  EXPECT_EQ(record.level, 4);
  EXPECT_EQ(record.seq, 1234u);
  EXPECT_EQ(record.usec, 5678901u);
  EXPECT_EQ(record.message, "WARNING: CPU: 1 PID: 42 at fix.c:10 f+0x1/0x2");
  EXPECT_TRUE(is_kernel_problem(record));
}

TEST(KernelLogRecord, KeepsTheLevelWithoutTheFacility) {
  KernelLogRecord record;
  // Facility 1 (user) at level 6: 8 + 6.
  ASSERT_TRUE(parse_kmsg_record("14,2,3,-;hello", record));
  EXPECT_EQ(record.level, 6);
  EXPECT_FALSE(is_kernel_problem(record));
}

TEST(KernelLogRecord, RefusesWhatIsNotARecord) {
  KernelLogRecord record;
  EXPECT_FALSE(parse_kmsg_record("no header here", record));
  EXPECT_FALSE(parse_kmsg_record("x,2,3,-;text", record));
  EXPECT_FALSE(parse_kmsg_record("6,2;text", record));
}

TEST(KernelLogRecord, RecognisesEachKindOfReport) {
  for (const char* message : {"BUG: kernel NULL pointer dereference, address: 0", "Oops: 0002 [#1]",
                              "kernel BUG at mm/slub.c:1!", "general protection fault: 0000",
                              "Kernel panic - not syncing: x"}) {
    EXPECT_TRUE(is_kernel_problem({.message = message})) << message;
  }
  EXPECT_FALSE(is_kernel_problem({.message = "livepatch: enabling patch 'x'"}));
}

}  // namespace
}  // namespace lpmon
