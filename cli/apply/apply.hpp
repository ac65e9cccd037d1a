#pragma once

#include "lpmon/rollout/apply.hpp"
#include "lpmon/rollout/revert.hpp"

namespace lpmon::cli {

struct ApplyOptions {
  rollout::ApplyRequest request;
  bool json = false;
  bool yes = false;  // confirms --force without asking
};

struct RevertOptions {
  rollout::RevertRequest request;
  bool json = false;
};

}  // namespace lpmon::cli
