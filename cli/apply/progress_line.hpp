#pragma once

#include <ostream>
#include <string>

#include "lpmon/rollout/transition_follower.hpp"
#include "lpmon/util/clock.hpp"

namespace lpmon::cli {

// Renders a followed transition's progress: one line redrawn in place on a terminal that can,
// and for logs and serial consoles a line per change (not one every 100 ms).
class ProgressLine {
 public:
  ProgressLine(std::ostream& out, bool terminal) : out_(out), terminal_(terminal) {}

  void operator()(const rollout::TransitionProgress& p) {
    if (p.timed_out) {
      if (terminal_) out_ << '\n';
      first_ = true;
      return;
    }
    std::string line = "lpmon: " + p.patch + ": transition ";
    std::string state;  // what a log line is printed for
    if (p.ended) {
      line += std::string(bpf::to_string(p.ended->result)) + " after " +
              seconds_text(p.elapsed, 1) + ", " + std::to_string(p.ended->rounds) + " round(s)";
    } else {
      line += "running, " + seconds_text(p.elapsed, 1);
      if (p.round) {
        state = "round " + std::to_string(*p.round) + ": " + std::to_string(p.tasks_left) +
                " task(s) left";
        line += ", " + state;
      }
    }
    if (terminal_) {
      out_ << '\r' << line << "\033[K" << (p.ended ? "\n" : "");
    } else if (p.ended || first_ || state != last_) {
      out_ << line << '\n';
    }
    out_.flush();
    first_ = p.ended != nullptr;  // the first line of the next wait is shown
    last_ = state;
  }

 private:
  std::ostream& out_;
  bool terminal_;
  bool first_ = true;
  std::string last_;
};

}  // namespace lpmon::cli
