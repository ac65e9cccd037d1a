#include "lpmon/bpf/redirect_profile.hpp"

#include <linux/perf_event.h>
#include <linux/types.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "lpmon/bpf/probe.hpp"
#include "lpmon/bpf/skeleton.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/livepatch_state.hpp"

extern "C" {
#include "redirect_profile.h"
#include "redirect_profile.skel.h"
}

LPMON_BPF_SKELETON_OPS(redirect_profile_bpf);

namespace lpmon::bpf {

static_assert(sizeof(lpmon_profile_totals) % 8 == 0 && sizeof(lpmon_profile_counts) % 8 == 0);

bool is_redirect_symbol(std::string_view name, std::string_view module) {
  if (module == "__builtin__ftrace") return name == "ftrace_trampoline";
  if (!module.empty()) return false;
  static const std::set<std::string_view> names{"klp_ftrace_handler",
                                                "ftrace_caller",
                                                "ftrace_caller_op_ptr",
                                                "ftrace_call",
                                                "ftrace_caller_end",
                                                "ftrace_regs_caller",
                                                "ftrace_regs_caller_op_ptr",
                                                "ftrace_regs_call",
                                                "ftrace_regs_caller_jmp",
                                                "ftrace_regs_caller_ret",
                                                "ftrace_regs_caller_end",
                                                "ftrace_epilogue",
                                                "ftrace_stub",
                                                "ftrace_ops_list_func",
                                                "arch_ftrace_ops_list_func",
                                                "ftrace_ops_assist_func",
                                                "ftrace_ops_test",
                                                "ftrace_lookup_ip"};
  return names.contains(name);
}

std::vector<ProfileRange> profile_ranges(const std::vector<KernelSymbols::Range>& symbols,
                                         const std::map<FunctionId, std::uint32_t>& patched,
                                         const std::vector<std::string>& patch_modules,
                                         std::map<FunctionId, std::uint32_t>& replacements,
                                         std::uint32_t& next_target) {
  constexpr std::uint64_t kPage = 4096;  // a trampoline fits in one
  // kallsyms order within an object is livepatch's sympos.
  std::map<std::pair<std::string_view, std::string_view>, unsigned long> seen;
  std::vector<ProfileRange> out;
  for (const auto& symbol : symbols) {
    const std::string_view object = symbol.module.empty() ? "vmlinux" : symbol.module;
    const unsigned long sympos = ++seen[{object, symbol.name}];
    if (is_redirect_symbol(symbol.name, symbol.module)) {
      const std::uint64_t end =
          symbol.module.empty() ? symbol.end : std::min(symbol.end, symbol.start + kPage);
      out.push_back({symbol.start, end, ProfileRangeKind::redirect, 0});
      continue;
    }
    const FunctionId id{std::string(object), std::string(symbol.name), sympos};
    if (auto it = patched.find(id); it != patched.end()) {
      out.push_back({symbol.start, symbol.end, ProfileRangeKind::patched, it->second});
    } else if (std::find(patch_modules.begin(), patch_modules.end(), object) !=
               patch_modules.end()) {
      auto [entry, added] = replacements.try_emplace(id, next_target);
      if (added) ++next_target;
      out.push_back({symbol.start, symbol.end, ProfileRangeKind::replacement, entry->second});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ProfileRange& a, const ProfileRange& b) { return a.start < b.start; });
  // Aliases share an address: keep one range per address, trimmed to the next.
  std::vector<ProfileRange> ranges;
  for (std::size_t i = 0; i < out.size(); ++i) {
    ProfileRange r = out[i];
    if (!ranges.empty() && ranges.back().start == r.start) continue;
    if (i + 1 < out.size()) r.end = std::min(r.end, out[i + 1].start);
    if (r.end > r.start) ranges.push_back(r);
  }
  return ranges;
}

namespace {

int open_cpu_clock(int cpu, std::uint64_t period_ns) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.sample_period = period_ns;  // a fixed period: each sample is exactly that much time
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

}  // namespace

struct RedirectProfile::State {
  RedirectProfileOptions options;
  Skeleton<redirect_profile_bpf> skeleton;
  std::vector<bpf_link*> links;
  std::vector<int> fds;
  std::chrono::nanoseconds period{};
  KernelSymbols symbols;
  std::map<FunctionId, std::uint32_t> patched;       // every patched function seen, by index
  std::map<FunctionId, std::uint32_t> replacements;  // every patch module function seen
  std::uint32_t next_target = 0;
  std::string last_key;  // patches and modules at the last refresh

  explicit State(RedirectProfileOptions o) : options(std::move(o)), symbols(options.paths) {}
  ~State() {
    for (bpf_link* link : links) bpf_link__destroy(link);
    for (int fd : fds) close(fd);
  }
};

RedirectProfile::RedirectProfile(RedirectProfileOptions options)
    : state_(std::make_unique<State>(std::move(options))) {
  require_bpf_tracing(state_->options.paths);
  State& s = *state_;
  if (s.options.frequency_hz == 0 || s.options.frequency_hz > 10000) {
    throw BpfError("a sampling frequency of " + std::to_string(s.options.frequency_hz) +
                   " Hz per CPU: give 1 to 10000");
  }
  const std::string name = "redirect_profile";
  if (!s.skeleton) throw BpfError(describe_bpf_failure("cannot open", name, errno));
  if (int err = s.skeleton.load()) throw BpfError(describe_bpf_failure("cannot load", name, err));
  s.period = std::chrono::nanoseconds(1'000'000'000 / s.options.frequency_hz);
  const int cpus = libbpf_num_possible_cpus();
  for (int cpu = 0; cpu < cpus; ++cpu) {
    const int fd = open_cpu_clock(cpu, static_cast<std::uint64_t>(s.period.count()));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // offline
      throw BpfError(describe_bpf_failure(
          "cannot open the CPU clock of cpu " + std::to_string(cpu) + " for", name, -errno));
    }
    s.fds.push_back(fd);
    bpf_link* link = bpf_program__attach_perf_event(s.skeleton->progs.profile_sample, fd);
    if (!link) throw BpfError(describe_bpf_failure("cannot attach", name, errno));
    s.links.push_back(link);
  }
  refresh();
}

RedirectProfile::~RedirectProfile() = default;

unsigned RedirectProfile::cpus() const {
  return static_cast<unsigned>(state_->fds.size());
}

void RedirectProfile::refresh() {
  State& s = *state_;
  const auto functions = patched_functions(read_patches(s.options.paths), s.options.paths);
  std::vector<std::string> patch_modules;
  std::string key;
  for (const auto& [id, info] : functions) {
    key += to_string(id) + ' ' + info.object_instance + '\n';
    for (const auto& p : info.patches) {
      if (std::find(patch_modules.begin(), patch_modules.end(), p) == patch_modules.end()) {
        patch_modules.push_back(p);
      }
    }
    if (!s.patched.contains(id)) s.patched.emplace(id, s.next_target++);
  }
  s.symbols.refresh();
  key += std::to_string(s.symbols.ranges().size());
  if (key == s.last_key) return;
  s.last_key = key;

  auto ranges =
      profile_ranges(s.symbols.ranges(), s.patched, patch_modules, s.replacements, s.next_target);
  if (ranges.size() > LPMON_PROFILE_MAX_RANGES) ranges.resize(LPMON_PROFILE_MAX_RANGES);
  auto* bss = s.skeleton->bss;
  bss->nr_ranges = 0;  // the program classifies nothing while the ranges are rewritten
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  for (std::uint32_t i = 0; i < ranges.size(); ++i) {
    const ProfileRange& r = ranges[i];
    if (r.target >= LPMON_PROFILE_MAX_TARGETS) continue;
    lpmon_profile_range raw{
        r.start, r.end,
        static_cast<__u32>(r.kind == ProfileRangeKind::redirect  ? LPMON_PROFILE_REDIRECT
                           : r.kind == ProfileRangeKind::patched ? LPMON_PROFILE_PATCHED
                                                                 : LPMON_PROFILE_REPLACEMENT),
        r.target};
    if (int err =
            bpf_map__update_elem(s.skeleton->maps.ranges, &i, sizeof i, &raw, sizeof raw, 0)) {
      throw BpfError(describe_bpf_failure("cannot write the ranges of", "redirect_profile", err));
    }
  }
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  bss->nr_ranges = static_cast<__u32>(ranges.size());
}

RedirectSamples RedirectProfile::read() const {
  const State& s = *state_;
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0)
    throw BpfError(describe_bpf_failure("cannot count the CPUs for", "redirect_profile", cpus));
  RedirectSamples out;
  out.period = s.period;
  const std::uint32_t zero = 0;
  std::vector<lpmon_profile_totals> totals(static_cast<std::size_t>(cpus));
  if (int err = bpf_map__lookup_elem(s.skeleton->maps.totals, &zero, sizeof zero, totals.data(),
                                     totals.size() * sizeof totals[0], 0)) {
    throw BpfError(describe_bpf_failure("cannot read the totals of", "redirect_profile", err));
  }
  for (const auto& t : totals) {
    out.samples += t.samples;
    out.kernel += t.kernel;
    out.redirect += t.redirect;
    out.redirect_unattributed += t.redirect_unattributed;
    out.stack_errors += t.stack_errors;
  }
  std::vector<lpmon_profile_counts> counts(static_cast<std::size_t>(cpus));
  auto read_target = [&](std::uint32_t index) {
    lpmon_profile_counts sum{};
    if (index >= LPMON_PROFILE_MAX_TARGETS) return sum;
    if (int err = bpf_map__lookup_elem(s.skeleton->maps.counts, &index, sizeof index, counts.data(),
                                       counts.size() * sizeof counts[0], 0)) {
      throw BpfError(describe_bpf_failure("cannot read the counts of", "redirect_profile", err));
    }
    for (const auto& c : counts) {
      sum.redirect += c.redirect;
      sum.self += c.self;
      sum.inclusive += c.inclusive;
    }
    return sum;
  };
  for (const auto& [id, index] : s.patched)
    out.redirect_by_function[id] = read_target(index).redirect;
  for (const auto& [id, index] : s.replacements) {
    const auto c = read_target(index);
    out.replacements[id] = {c.self, c.inclusive};
  }
  return out;
}

}  // namespace lpmon::bpf
