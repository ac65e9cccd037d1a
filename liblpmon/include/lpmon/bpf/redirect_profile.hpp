#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lpmon/bpf/patched_calls.hpp"
#include "lpmon/bpf/task_state.hpp"
#include "lpmon/kernel_paths.hpp"

namespace lpmon::bpf {

// What an address is to the redirect profile.
enum class ProfileRangeKind { redirect, patched, replacement };

// A range of kernel text and what it is: the input of bpf/redirect_profile.bpf.c.
struct ProfileRange {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  ProfileRangeKind kind = ProfileRangeKind::redirect;
  std::uint32_t target = 0;  // index of the patched or replacement function
};

// Whether a kallsyms symbol is redirection code: klp_ftrace_handler, ftrace's entry code
// (ftrace_caller, ftrace_regs_caller and their labels), its list function and what it calls to
// match a function, and the trampolines ftrace builds per ftrace_ops ("ftrace_trampoline
// [__builtin__ftrace]", since 5.9).
bool is_redirect_symbol(std::string_view name, std::string_view module);

// Builds the sorted, non-overlapping ranges from kallsyms: redirection code, the patched
// functions (target: their index in `patched`) and every function of the patch modules
// (target: found in or added to `replacements`, keyed {patch module, name}). Functions kallsyms
// does not list are left out.
std::vector<ProfileRange> profile_ranges(const std::vector<KernelSymbols::Range>& symbols,
                                         const std::map<FunctionId, std::uint32_t>& patched,
                                         const std::vector<std::string>& patch_modules,
                                         std::map<FunctionId, std::uint32_t>& replacements,
                                         std::uint32_t& next_target);

struct ReplacementSamples {
  std::uint64_t self = 0;       // the function itself was running
  std::uint64_t inclusive = 0;  // it, or something it called
};

// Samples since the profile started, summed over CPUs. Each sample stands for `period` of one
// CPU's time, so samples x period estimates CPU time; a share k of n samples has the binomial
// standard error sqrt(k (1 - k/n)) samples.
struct RedirectSamples {
  std::chrono::nanoseconds period{};
  std::uint64_t samples = 0;                // every sample, on every CPU
  std::uint64_t kernel = 0;                 // the CPU was in the kernel
  std::uint64_t redirect = 0;               // redirecting a patched function (sum of the map)
  std::uint64_t redirect_unattributed = 0;  // ftrace code with no patched function above it
  std::uint64_t stack_errors = 0;
  std::map<FunctionId, std::uint64_t> redirect_by_function;  // patched function -> samples
  // {patch module, function} -> samples; every function of a patch module seen so far
  std::map<FunctionId, ReplacementSamples> replacements;

  double seconds(std::uint64_t n) const {
    return static_cast<double>(n) * std::chrono::duration<double>(period).count();
  }
};

struct RedirectProfileOptions {
  KernelPaths paths;
  unsigned frequency_hz = 99;  // per CPU
};

// Samples every online CPU on its CPU clock with a BPF perf_event program and counts, in the
// kernel, the samples in livepatch's redirection per patched function and those in each
// patch module's functions. Not thread-safe.
class RedirectProfile {
 public:
  // Throws BpfError (naming what failed) or LivepatchUnsupportedError. Samples from here on.
  explicit RedirectProfile(RedirectProfileOptions options);
  ~RedirectProfile();
  RedirectProfile(const RedirectProfile&) = delete;
  RedirectProfile& operator=(const RedirectProfile&) = delete;

  // Reads sysfs and, when modules changed, kallsyms again, and rewrites the ranges. Call it
  // when patches may have changed (e.g. once per interval).
  void refresh();
  RedirectSamples read() const;
  unsigned cpus() const;  // CPUs being sampled

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lpmon::bpf
