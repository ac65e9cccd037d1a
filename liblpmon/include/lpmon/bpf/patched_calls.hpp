#pragma once

#include <array>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lpmon/kernel_paths.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon::bpf {

// Durations in ns by powers of two, as bpf/patched_calls.bpf.c keeps them: slot 0 counts
// [0, 2), slot i >= 1 counts [2^i, 2^(i+1)), and the last slot is open-ended.
struct Log2Histogram {
  static constexpr std::size_t kSlots = 32;

  std::array<std::uint64_t, kSlots> slots{};

  // Lowest duration of slot i, and the highest (UINT64_MAX for the last slot).
  static std::uint64_t slot_low(std::size_t i);
  static std::uint64_t slot_high(std::size_t i);

  std::uint64_t count() const;
  Log2Histogram& operator+=(const Log2Histogram& other);
  // What was added since an earlier snapshot of the same counters.
  Log2Histogram since(const Log2Histogram& earlier) const;

  bool operator==(const Log2Histogram&) const = default;
};

// The counters of one observed function, summed over CPUs.
struct CallCounters {
  std::uint64_t calls = 0;     // entries
  std::uint64_t timed = 0;     // returns matched with their entry
  std::uint64_t total_ns = 0;  // of the timed calls
  Log2Histogram latency;       // of the timed calls

  CallCounters& operator+=(const CallCounters& other);
  CallCounters since(const CallCounters& earlier) const;

  bool operator==(const CallCounters&) const = default;
};

// Sums the per-CPU values of the program's stats map, as one lookup of a per-CPU array
// returns them (struct lpmon_calls_stats per CPU). Throws BpfError when the size is not a
// whole number of records (a BPF object from another build).
CallCounters sum_per_cpu_counters(std::span<const std::byte> values);

// A patched function, named as livepatch names it in sysfs.
struct FunctionId {
  std::string object;  // "vmlinux" or a module
  std::string name;
  unsigned long sympos = 1;

  auto operator<=>(const FunctionId&) const = default;
};

// "name" for vmlinux, "name [module]" otherwise, and ",sympos" when it is not 1.
std::string to_string(const FunctionId& function);

// A patched function as sysfs shows it: the patches that replace it (enabled, or still
// being unpatched), and whether its object is loaded so that it can be observed.
struct PatchedFunction {
  std::vector<std::string> patches;  // sorted
  bool object_loaded = false;
  // Tells one load of a module object from the next: the inode of /sys/module/<object>, which
  // sysfs numbers afresh each time (the module's address is often the same again). Empty for
  // vmlinux, or when the directory is missing.
  std::string object_instance;
};

// Every function that some patch in sysfs replaces.
std::map<FunctionId, PatchedFunction> patched_functions(const std::vector<LivepatchPatch>& patches,
                                                        const KernelPaths& paths);

// The addresses of functions from /proc/kallsyms, in one pass: the sympos'th text symbol of
// that name in its object (livepatch counts sympos the same way). Functions it does not list
// are left out. Throws KernelError when kallsyms cannot be read, or shows zero addresses (not
// root).
std::map<FunctionId, std::uint64_t> kallsyms_addresses(const KernelPaths& paths,
                                                       const std::vector<FunctionId>& functions);

// How a function is observed: kprobe/kretprobe, or fentry/fexit (a BPF trampoline).
//
// kprobe is the default. Measured in Debian's 6.1 under livepatch: fexit leaves a trampoline
// frame on the stack of a task that sleeps in the function, which makes that stack unreliable
// for livepatch, so every transition (of any patch) stalls on the task until it returns, even
// after the probe is gone; a kretprobe keeps the stack reliable. And on a function that
// livepatch redirects, the trampoline is called through ftrace like a kprobe (since 6.0 on
// x86), so fentry loses its usual speed advantage there. A kretprobe times at most
// max(10, 2 x CPUs) calls in flight at once; calls beyond are counted but not timed.
enum class ProbeKind { kprobe, fentry };
std::string_view to_string(ProbeKind kind);

// How much of each call is timed. Counting alone attaches the entry program only: a per-CPU
// increment, no clock read, no exit probe (so fentry leaves no frame on a sleeper's stack).
// Sampled times 1 call in N on each CPU; the others pay for the exit probe but no clock read
// and no map lookup. Full times every call. What each adds to a redirected call, against the
// redirection itself: BENCHMARKS.md ("Cheap counting").
struct Timing {
  // 0: count only; 1: time every call; N: 1 call in N per CPU.
  std::uint32_t every = 0;

  static Timing count_only() { return {0}; }
  static Timing sampled(std::uint32_t n) { return {n}; }
  static Timing full() { return {1}; }
  bool timed() const { return every != 0; }
  bool operator==(const Timing&) const = default;
};
// "count", "full", or "sampled 1/N".
std::string to_string(Timing timing);
// "count", "sampled" or "full": the mode's name, as --mode takes it.
std::string_view mode_name(Timing timing);
// --mode MODE [--sample-every N] of lpmon calls and lpmon-exporter; nullopt for another name.
std::optional<Timing> timing_of_mode(std::string_view mode, std::uint32_t sample_every);

// What lpmon calls and lpmon-exporter time unless told otherwise: the cheapest mode whose
// cost per call is a fraction of the redirection's (BENCHMARKS.md, "Cheap counting").
inline constexpr Timing kDefaultTiming{0};
inline constexpr std::uint32_t kDefaultSampleEvery = 64;

// The programs of bpf/patched_calls.bpf.c attached to one kernel function: one load and two
// attachments. Detaches on destruction. fentry holds the function's module while attached
// (rmmod fails with EAGAIN); a kprobe does not, and stops firing when the module goes.
class FunctionProbe {
 public:
  // Throws BpfError, naming the function and why it failed. `address` is needed for kprobe
  // (kallsyms_addresses), and ignored for fentry, which finds the function by name in BTF and
  // so can only attach to the first function of a name (sympos 1).
  FunctionProbe(const FunctionId& function, ProbeKind kind, std::optional<std::uint64_t> address,
                Timing timing = Timing::full());
  ~FunctionProbe();
  FunctionProbe(const FunctionProbe&) = delete;
  FunctionProbe& operator=(const FunctionProbe&) = delete;

  ProbeKind kind() const;
  // Since attaching. Throws BpfError when the map cannot be read.
  CallCounters read() const;
  // The entry program, and the exit program when calls are timed, for program_cost()
  // (lpmon/bpf/bpf_stats.hpp).
  std::vector<int> program_fds() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct PatchedCallsOptions {
  KernelPaths paths;
  // Where the preferred kind cannot attach, the other is used: kprobe needs the function in
  // kallsyms and not blacklisted; fentry needs its BTF, sympos 1, and at most 6 arguments
  // (the limit of 6.1's trampolines).
  ProbeKind probe = ProbeKind::kprobe;
  Timing timing = kDefaultTiming;
  std::vector<std::string> only;  // observe only functions of these names; empty: all
  // Each function costs a load and two attachments: a bound keeps refresh() short.
  std::size_t max_functions = 16;
  // Also observe these whether a patch replaces them or not, while their object is loaded:
  // the functions of a patch about to be loaded, for a baseline of their unpatched cost.
  std::vector<FunctionId> also;
};

// One patched function being observed.
struct ObservedFunction {
  FunctionId function;
  std::vector<std::string> patches;  // as of the last refresh()
  ProbeKind probe = ProbeKind::kprobe;
  Timing timing;
  std::string fallback_reason;  // why the preferred kind could not attach, if it could not
  std::chrono::steady_clock::time_point attached_at;
  CallCounters counters;         // since attached_at
  std::vector<int> program_fds;  // valid until the next refresh() or the end of PatchedCalls
};

// What a refresh() changed.
struct RefreshReport {
  std::vector<FunctionId> attached;
  // No longer patched, or its module went away (or was loaded anew: then also attached).
  std::vector<FunctionId> detached;
  // Could not be attached, with the reason. Not retried until the function is unpatched or
  // its object reloaded.
  std::vector<std::pair<FunctionId, std::string>> failed;
  std::vector<FunctionId> over_limit;  // patched, not observed: max_functions reached

  bool empty() const {
    return attached.empty() && detached.empty() && failed.empty() && over_limit.empty();
  }
};

// Counts the calls of every patched function and keeps their latency histograms, in the
// kernel. The probes sit on the original functions, whose names sysfs gives: livepatch
// redirects them to the replacement in force, so counting goes on across an atomic replace
// without re-attaching, and the patch modules stay free to be unloaded (a probe on a
// replacement pins its module: rmmod of a replaced patch fails with EAGAIN). Not thread-safe.
class PatchedCalls {
 public:
  // Checks BTF, livepatch and privileges (BpfError, LivepatchUnsupportedError); attaches
  // nothing until refresh().
  explicit PatchedCalls(PatchedCallsOptions options);
  ~PatchedCalls();
  PatchedCalls(const PatchedCalls&) = delete;
  PatchedCalls& operator=(const PatchedCalls&) = delete;

  // Reads sysfs again: attaches to newly patched functions, detaches from those no longer
  // patched, and attaches again to those whose module was loaded anew (the kernel retires a
  // kprobe whose module goes, even if it comes back at the same address). Call it when
  // patches may have changed (e.g. once per interval).
  RefreshReport refresh();

  // The observed functions, sorted, with their counters now.
  std::vector<ObservedFunction> read() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lpmon::bpf
