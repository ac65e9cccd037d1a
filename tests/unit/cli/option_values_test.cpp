// The values lpmon gate and lpmon apply both parse: one rule for both commands.
#include "option_values.hpp"

#include <gtest/gtest.h>

namespace lpmon::cli {
namespace {

TEST(OptionValues, GateArgsAreNameEqualsValueAndEachNameOnce) {
  std::map<std::string, std::string> args;
  EXPECT_EQ(add_gate_arg(args, "wave=2"), std::nullopt);
  EXPECT_EQ(add_gate_arg(args, "empty="), std::nullopt);
  EXPECT_EQ(args, (std::map<std::string, std::string>{{"wave", "2"}, {"empty", ""}}));
  EXPECT_EQ(add_gate_arg(args, "wave=3"), "wave is given twice");
  EXPECT_EQ(args.at("wave"), "2");
  EXPECT_EQ(add_gate_arg(args, "=3"), "'=3': expected NAME=VALUE");
  EXPECT_EQ(add_gate_arg(args, "novalue"), "'novalue': expected NAME=VALUE");
  EXPECT_EQ(args.size(), 2u);
}

TEST(OptionValues, DurationsMustBePositive) {
  EXPECT_EQ(positive_duration("2m"), gate::Duration(std::chrono::minutes(2)));
  EXPECT_EQ(positive_duration("0s"), std::nullopt);
  EXPECT_EQ(positive_duration("soon"), std::nullopt);
  EXPECT_EQ(positive_duration(""), std::nullopt);
}

}  // namespace
}  // namespace lpmon::cli
