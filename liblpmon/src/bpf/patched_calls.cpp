#include "lpmon/bpf/patched_calls.hpp"

#include <linux/types.h>
#include <sys/stat.h>

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "lpmon/bpf/probe.hpp"
#include "lpmon/bpf/skeleton.hpp"
#include "lpmon/errors.hpp"

extern "C" {
#include "patched_calls.h"
#include "patched_calls.skel.h"
}

LPMON_BPF_SKELETON_OPS(patched_calls_bpf);

namespace lpmon::bpf {

static_assert(Log2Histogram::kSlots == LPMON_CALLS_SLOTS);
// Per-CPU values are laid out at multiples of 8 bytes; the record is all __u64.
static_assert(sizeof(lpmon_calls_stats) % 8 == 0);

std::uint64_t Log2Histogram::slot_low(std::size_t i) {
  return i == 0 ? 0 : std::uint64_t{1} << i;
}

std::uint64_t Log2Histogram::slot_high(std::size_t i) {
  if (i + 1 >= kSlots) return std::numeric_limits<std::uint64_t>::max();
  return (std::uint64_t{1} << (i + 1)) - 1;
}

std::uint64_t Log2Histogram::count() const {
  std::uint64_t n = 0;
  for (std::uint64_t v : slots) n += v;
  return n;
}

Log2Histogram& Log2Histogram::operator+=(const Log2Histogram& other) {
  for (std::size_t i = 0; i < kSlots; ++i) slots[i] += other.slots[i];
  return *this;
}

Log2Histogram Log2Histogram::since(const Log2Histogram& earlier) const {
  Log2Histogram delta;
  for (std::size_t i = 0; i < kSlots; ++i) delta.slots[i] = slots[i] - earlier.slots[i];
  return delta;
}

CallCounters& CallCounters::operator+=(const CallCounters& other) {
  calls += other.calls;
  timed += other.timed;
  total_ns += other.total_ns;
  latency += other.latency;
  return *this;
}

CallCounters CallCounters::since(const CallCounters& earlier) const {
  return {calls - earlier.calls, timed - earlier.timed, total_ns - earlier.total_ns,
          latency.since(earlier.latency)};
}

CallCounters sum_per_cpu_counters(std::span<const std::byte> values) {
  if (values.size() % sizeof(lpmon_calls_stats) != 0) {
    throw BpfError("per-CPU call counters of " + std::to_string(values.size()) +
                   " bytes, not a multiple of the " + std::to_string(sizeof(lpmon_calls_stats)) +
                   "-byte record this build knows");
  }
  CallCounters sum;
  for (std::size_t off = 0; off < values.size(); off += sizeof(lpmon_calls_stats)) {
    lpmon_calls_stats cpu;
    std::memcpy(&cpu, values.data() + off, sizeof cpu);
    sum.calls += cpu.calls;
    sum.timed += cpu.timed;
    sum.total_ns += cpu.total_ns;
    for (std::size_t i = 0; i < Log2Histogram::kSlots; ++i) sum.latency.slots[i] += cpu.slots[i];
  }
  return sum;
}

std::string to_string(const FunctionId& function) {
  std::string text = function.name;
  if (function.sympos != 1) text += "," + std::to_string(function.sympos);
  if (function.object != "vmlinux") text += " [" + function.object + "]";
  return text;
}

std::map<FunctionId, PatchedFunction> patched_functions(const std::vector<LivepatchPatch>& patches,
                                                        const KernelPaths& paths) {
  std::map<FunctionId, PatchedFunction> found;
  for (const LivepatchPatch& patch : patches) {
    for (const LivepatchObject& object : patch.objects) {
      // Kernels without the 'patched' file: a module object is patched while it is loaded.
      std::error_code ignored;
      const bool vmlinux = object.name == "vmlinux";
      const auto object_module = module_dir(paths, object.name);
      struct stat st {};
      const std::string instance =
          vmlinux || ::stat(object_module.c_str(), &st) != 0 ? "" : std::to_string(st.st_ino);
      // 6.1's load_module() runs klp_module_coming() (patched = 1) before mod_sysfs_setup():
      // until /sys/module/<object> exists, this load cannot be told from the next, so it is
      // observed only from then on (else it would be attached twice, losing the counts).
      const bool loaded =
          (vmlinux || !instance.empty()) &&
          object.patched.value_or(vmlinux || std::filesystem::exists(object_module, ignored));
      for (const LivepatchFunc& func : object.funcs) {
        PatchedFunction& entry = found[{object.name, func.name, func.sympos}];
        entry.patches.push_back(patch.name);
        entry.object_loaded = entry.object_loaded || loaded;
        entry.object_instance = instance;
      }
    }
  }
  for (auto& [id, entry] : found) std::sort(entry.patches.begin(), entry.patches.end());
  return found;
}

std::map<FunctionId, std::uint64_t> kallsyms_addresses(const KernelPaths& paths,
                                                       const std::vector<FunctionId>& functions) {
  std::map<FunctionId, std::uint64_t> found;
  if (functions.empty()) return found;
  std::set<std::string, std::less<>> names;
  for (const FunctionId& f : functions) names.insert(f.name);
  const auto file = paths.procfs / "kallsyms";
  std::ifstream in(file);
  if (!in) throw KernelError("cannot read " + file.string() + ": " + std::strerror(errno));
  // "<address> <type> <name>" for vmlinux, then "\t[<module>]" for a module's symbols; the
  // n-th text symbol of a name within its object is livepatch's sympos n.
  std::map<std::pair<std::string, std::string>, unsigned long> seen;
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    if (space == std::string::npos || space + 3 > line.size()) continue;
    const char type = line[space + 1];
    if (type != 't' && type != 'T') continue;
    std::string_view rest = std::string_view(line).substr(space + 3);
    const auto tab = rest.find('\t');
    const std::string_view name = rest.substr(0, tab);
    if (!names.contains(name)) continue;
    std::string object = "vmlinux";
    if (tab != std::string_view::npos) {
      const std::string_view module = rest.substr(tab + 1);
      if (module.size() < 2 || module.front() != '[' || module.back() != ']') continue;
      object = module.substr(1, module.size() - 2);
    }
    const unsigned long sympos = ++seen[{object, std::string(name)}];
    const FunctionId id{std::move(object), std::string(name), sympos};
    if (std::find(functions.begin(), functions.end(), id) == functions.end()) continue;
    std::uint64_t address = 0;
    std::from_chars(line.data(), line.data() + space, address, 16);
    if (address == 0) {
      throw KernelError(file.string() + " shows no addresses to this user: run as root " +
                        "(kernel.kptr_restrict hides them otherwise)");
    }
    found.emplace(id, address);
  }
  return found;
}

std::string_view to_string(ProbeKind kind) {
  return kind == ProbeKind::fentry ? "fentry" : "kprobe";
}

std::string to_string(Timing timing) {
  if (!timing.timed()) return "count";
  if (timing.every == 1) return "full";
  return "sampled 1/" + std::to_string(timing.every);
}

std::string_view mode_name(Timing timing) {
  return !timing.timed() ? "count" : timing.every == 1 ? "full" : "sampled";
}

std::optional<Timing> timing_of_mode(std::string_view mode, std::uint32_t sample_every) {
  if (mode == "count") return Timing::count_only();
  if (mode == "full") return Timing::full();
  if (mode == "sampled" && sample_every >= 2) return Timing::sampled(sample_every);
  return std::nullopt;
}

struct FunctionProbe::State {
  Skeleton<patched_calls_bpf> skeleton;
  ProbeKind kind = ProbeKind::fentry;
  Timing timing;
};

FunctionProbe::FunctionProbe(const FunctionId& function, ProbeKind kind,
                             std::optional<std::uint64_t> address, Timing timing)
    : state_(std::make_unique<State>()) {
  state_->kind = kind;
  state_->timing = timing;
  auto& skel = state_->skeleton;
  const std::string name =
      "patched_calls (" + std::string(to_string(kind)) + " on " + to_string(function) + ")";
  if (!skel) throw BpfError(describe_bpf_failure("cannot open", name, errno));
  const bool fentry = kind == ProbeKind::fentry;
  if (!fentry && !address) {
    throw BpfError("cannot attach a kprobe to " + to_string(function) +
                   ": /proc/kallsyms does not list it");
  }
  auto* progs = &skel->progs;
  const bool timed = timing.timed();
  skel->rodata->sample_every = timing.every;
  bpf_program__set_autoload(progs->calls_entry, fentry);
  bpf_program__set_autoload(progs->calls_exit, fentry && timed);
  bpf_program__set_autoload(progs->calls_kprobe, !fentry);
  bpf_program__set_autoload(progs->calls_kretprobe, !fentry && timed);
  if (fentry) {
    // libbpf finds the name in vmlinux's BTF, then in the modules'; the kernel resolves it to
    // the first symbol of that name, which is livepatch's sympos 1.
    for (bpf_program* prog : {progs->calls_entry, progs->calls_exit}) {
      if (!bpf_program__autoload(prog)) continue;
      if (int err = bpf_program__set_attach_target(prog, 0, function.name.c_str())) {
        throw BpfError(describe_bpf_failure("cannot target", name, err));
      }
    }
  }
  if (int err = skel.load()) throw BpfError(describe_bpf_failure("cannot load", name, err));

  // Exit first: a start time is then only ever stored with the exit program there to take
  // it out again.
  auto attach = [&](bpf_program* prog, bpf_link** slot, bool retprobe) {
    bpf_link* link = nullptr;
    if (fentry) {
      link = bpf_program__attach_trace(prog);
    } else {
      LIBBPF_OPTS(bpf_kprobe_opts, opts, .offset = static_cast<size_t>(*address),
                  .retprobe = retprobe);
      link = bpf_program__attach_kprobe_opts(prog, nullptr, &opts);
    }
    if (!link) throw BpfError(describe_bpf_failure("cannot attach", name, errno));
    *slot = link;  // the skeleton destroys it
  };
  if (fentry) {
    if (timed) attach(progs->calls_exit, &skel->links.calls_exit, true);
    attach(progs->calls_entry, &skel->links.calls_entry, false);
  } else {
    if (timed) attach(progs->calls_kretprobe, &skel->links.calls_kretprobe, true);
    attach(progs->calls_kprobe, &skel->links.calls_kprobe, false);
  }
}

FunctionProbe::~FunctionProbe() = default;

ProbeKind FunctionProbe::kind() const {
  return state_->kind;
}

CallCounters FunctionProbe::read() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0)
    throw BpfError(describe_bpf_failure("cannot count the CPUs for", "patched_calls", cpus));
  std::vector<std::byte> values(static_cast<std::size_t>(cpus) * sizeof(lpmon_calls_stats));
  const std::uint32_t zero = 0;
  if (int err = bpf_map__lookup_elem(state_->skeleton->maps.stats, &zero, sizeof zero,
                                     values.data(), values.size(), 0)) {
    throw BpfError(describe_bpf_failure("cannot read the counters of", "patched_calls", err));
  }
  return sum_per_cpu_counters(values);
}

std::vector<int> FunctionProbe::program_fds() const {
  const auto& progs = state_->skeleton->progs;
  const bool fentry = state_->kind == ProbeKind::fentry;
  std::vector<int> fds{bpf_program__fd(fentry ? progs.calls_entry : progs.calls_kprobe)};
  if (state_->timing.timed()) {
    fds.push_back(bpf_program__fd(fentry ? progs.calls_exit : progs.calls_kretprobe));
  }
  return fds;
}

namespace {

struct Observation {
  std::unique_ptr<FunctionProbe> probe;
  std::vector<std::string> patches;
  std::string object_instance;
  std::string fallback_reason;
  std::chrono::steady_clock::time_point attached_at;
};

}  // namespace

struct PatchedCalls::State {
  PatchedCallsOptions options;
  std::map<FunctionId, Observation> observed;
  // Not retried while patched in the same module instance: function -> object_instance.
  std::map<FunctionId, std::string> failed;
  std::set<FunctionId> over_limit;  // reported once; attached when there is room

  // Kprobes attach by address: one pass over kallsyms (about 100k lines) finds all of one
  // refresh's functions.
  struct Addresses {
    std::map<FunctionId, std::uint64_t> found;
    std::string error;  // kallsyms could not be read
  };

  Observation attach(const FunctionId& function, const std::vector<FunctionId>& batch,
                     std::optional<Addresses>& addresses) const {
    Observation obs;
    const ProbeKind preferred = options.probe;
    const ProbeKind other = preferred == ProbeKind::kprobe ? ProbeKind::fentry : ProbeKind::kprobe;
    for (ProbeKind kind : {preferred, other}) {
      try {
        if (kind == ProbeKind::fentry && function.sympos != 1) {
          throw BpfError("fentry finds a function by name, i.e. the first of that name, and " +
                         to_string(function) + " is not");
        }
        std::optional<std::uint64_t> address;
        if (kind == ProbeKind::kprobe) {
          if (!addresses) {
            addresses.emplace();
            try {
              addresses->found = kallsyms_addresses(options.paths, batch);
            } catch (const KernelError& error) {
              addresses->error = error.what();
            }
          }
          if (!addresses->error.empty()) throw BpfError(addresses->error);
          if (auto it = addresses->found.find(function); it != addresses->found.end()) {
            address = it->second;
          }
        }
        obs.probe = std::make_unique<FunctionProbe>(function, kind, address, options.timing);
        break;
      } catch (const BpfError& error) {
        if (kind == other) throw BpfError(obs.fallback_reason + "; and " + error.what());
        obs.fallback_reason = error.what();
      }
    }
    obs.attached_at = std::chrono::steady_clock::now();
    return obs;
  }
};

PatchedCalls::PatchedCalls(PatchedCallsOptions options) : state_(std::make_unique<State>()) {
  require_bpf_tracing(options.paths);
  state_->options = std::move(options);
}

PatchedCalls::~PatchedCalls() = default;

RefreshReport PatchedCalls::refresh() {
  State& s = *state_;
  RefreshReport report;
  auto current = patched_functions(read_patches(s.options.paths), s.options.paths);
  for (const FunctionId& id : s.options.also) {
    if (current.contains(id)) continue;
    const auto module_dir = s.options.paths.sysfs / "module" / id.object;
    struct stat st {};
    if (id.object == "vmlinux") {
      current[id].object_loaded = true;
    } else if (::stat(module_dir.c_str(), &st) == 0) {
      current[id] = {
          .patches = {}, .object_loaded = true, .object_instance = std::to_string(st.st_ino)};
    }
  }
  std::erase_if(current, [&](const auto& entry) {
    const auto& [id, info] = entry;
    const auto& only = s.options.only;
    return !info.object_loaded ||
           (!only.empty() && std::find(only.begin(), only.end(), id.name) == only.end());
  });

  std::erase_if(s.observed, [&](const auto& entry) {
    const auto it = current.find(entry.first);
    if (it != current.end() && it->second.object_instance == entry.second.object_instance) {
      return false;
    }
    report.detached.push_back(entry.first);
    return true;
  });
  std::erase_if(s.failed, [&](const auto& entry) {
    const auto it = current.find(entry.first);
    return it == current.end() || it->second.object_instance != entry.second;
  });
  std::erase_if(s.over_limit, [&](const FunctionId& id) { return !current.contains(id); });

  std::vector<FunctionId> batch;  // to attach, in order, within the bound
  for (const auto& [id, info] : current) {
    if (auto it = s.observed.find(id); it != s.observed.end()) {
      it->second.patches = info.patches;
    } else if (s.failed.contains(id)) {
      continue;
    } else if (s.observed.size() + batch.size() >= s.options.max_functions) {
      if (s.over_limit.insert(id).second) report.over_limit.push_back(id);
    } else {
      batch.push_back(id);
    }
  }
  std::optional<State::Addresses> addresses;
  for (const FunctionId& id : batch) {
    try {
      Observation obs = s.attach(id, batch, addresses);
      obs.patches = current.at(id).patches;
      obs.object_instance = current.at(id).object_instance;
      s.observed.emplace(id, std::move(obs));
      s.over_limit.erase(id);
      report.attached.push_back(id);
    } catch (const BpfError& error) {
      s.failed.emplace(id, current.at(id).object_instance);
      report.failed.emplace_back(id, error.what());
    }
  }
  return report;
}

std::vector<ObservedFunction> PatchedCalls::read() const {
  std::vector<ObservedFunction> out;
  for (const auto& [id, obs] : state_->observed) {
    out.push_back({id, obs.patches, obs.probe->kind(), state_->options.timing, obs.fallback_reason,
                   obs.attached_at, obs.probe->read(), obs.probe->program_fds()});
  }
  return out;
}

}  // namespace lpmon::bpf
