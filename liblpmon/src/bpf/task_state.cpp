#include "lpmon/bpf/task_state.hpp"

#include <linux/types.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "kernel_file.hpp"
#include "lpmon/bpf/probe.hpp"
#include "lpmon/bpf/skeleton.hpp"

extern "C" {
#include "task_state.h"
#include "task_state.skel.h"
}

LPMON_BPF_SKELETON_OPS(task_state_bpf);

namespace lpmon::bpf {
namespace {

std::string_view next_field(std::string_view& line) {
  const auto start = line.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(start);
  const auto end = line.find_first_of(" \t");
  const std::string_view field = line.substr(0, end);
  line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  return field;
}

// What identifies the loaded modules: name and load address per /proc/modules line (the
// reference counts in between change without anything moving).
std::string module_signature(std::string_view modules) {
  std::string signature;
  while (!modules.empty()) {
    const auto newline = modules.find('\n');
    std::string_view line = modules.substr(0, newline);
    modules.remove_prefix(newline == std::string_view::npos ? modules.size() : newline + 1);
    signature += next_field(line);
    const auto address = line.rfind(' ');
    if (address != std::string_view::npos) signature += line.substr(address);
    signature += '\n';
  }
  return signature;
}

}  // namespace

KernelSymbols::KernelSymbols(KernelPaths paths) : paths_(std::move(paths)) {}

void KernelSymbols::refresh() {
  const auto modules = detail::read_kernel_file(paths_.procfs / "modules");
  std::string signature = module_signature(modules.text);
  if (loaded_ && signature == modules_seen_) return;
  const auto kallsyms = detail::read_kernel_file(paths_.procfs / "kallsyms");
  load_kallsyms(kallsyms.error ? std::string_view{} : std::string_view(kallsyms.text));
  modules_seen_ = std::move(signature);
  loaded_ = true;
}

void KernelSymbols::load_kallsyms(std::string_view text) {
  names_.clear();
  symbols_.clear();
  while (!text.empty()) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);

    // "ffffffffc0a01000 t lpmon_target_check_len\t[lpmon_target]"
    const std::string_view address_text = next_field(line);
    const std::string_view type = next_field(line);
    const std::string_view name = next_field(line);
    std::string_view module = next_field(line);
    std::uint64_t address = 0;
    const auto [stop, error] = std::from_chars(
        address_text.data(), address_text.data() + address_text.size(), address, 16);
    if (error != std::errc{} || address == 0 || name.empty() || type.size() != 1) continue;
    if (std::string_view("tTwW").find(type[0]) == std::string_view::npos) continue;

    Symbol symbol{
        .address = address, .name = static_cast<std::uint32_t>(names_.size()), .module = kNoModule};
    names_.append(name);
    names_ += '\0';
    if (module.size() > 2 && module.front() == '[' && module.back() == ']') {
      module = module.substr(1, module.size() - 2);
      symbol.module = static_cast<std::uint32_t>(names_.size());
      names_.append(module);
      names_ += '\0';
    }
    symbols_.push_back(symbol);
  }
  std::stable_sort(symbols_.begin(), symbols_.end(),
                   [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
}

std::vector<KernelSymbols::Range> KernelSymbols::ranges() const {
  std::vector<Range> out;
  out.reserve(symbols_.size());
  for (std::size_t i = 0; i < symbols_.size(); ++i) {
    const Symbol& s = symbols_[i];
    const std::uint64_t end = i + 1 < symbols_.size() ? symbols_[i + 1].address : s.address + 1;
    out.push_back({s.address, std::max(end, s.address + 1), names_.c_str() + s.name,
                   s.module == kNoModule ? std::string_view{} : names_.c_str() + s.module});
  }
  return out;
}

std::string KernelSymbols::describe(std::uint64_t address) const {
  auto it = std::upper_bound(
      symbols_.begin(), symbols_.end(), address,
      [](std::uint64_t value, const Symbol& symbol) { return value < symbol.address; });
  if (it == symbols_.begin()) return {};
  --it;
  char offset[32];
  const auto [end, error] =
      std::to_chars(offset, offset + sizeof offset, address - it->address, 16);
  std::string text = names_.c_str() + it->name;
  text += "+0x";
  text.append(offset, end);
  if (it->module != kNoModule) {
    text += " [";
    text += names_.c_str() + it->module;
    text += ']';
  }
  return text;
}

TaskStateTask decode_task_state_record(const void* data, std::size_t size) {
  if (size != sizeof(lpmon_task_state_record)) {
    throw BpfError("task state record of " + std::to_string(size) + " bytes, expected " +
                   std::to_string(sizeof(lpmon_task_state_record)));
  }
  lpmon_task_state_record raw;
  std::memcpy(&raw, data, sizeof raw);
  TaskStateTask task;
  task.pid = static_cast<pid_t>(raw.pid);
  task.tgid = static_cast<pid_t>(raw.tgid);
  task.comm.assign(raw.comm, strnlen(raw.comm, sizeof raw.comm));
  task.patch_state = raw.patch_state;
  task.kthread = (raw.flags & LPMON_TASK_STATE_KTHREAD) != 0;
  task.on_cpu = raw.on_cpu != 0;
  if (raw.stack_frames < 0) {
    task.stack_error = -raw.stack_frames;
  } else {
    const auto frames =
        std::min<std::size_t>(static_cast<std::size_t>(raw.stack_frames), std::size(raw.stack));
    for (std::size_t i = 0; i < frames; ++i)
      task.stack.push_back({.address = raw.stack[i], .symbol = {}});
  }
  return task;
}

struct TaskStateScanner::State {
  Skeleton<task_state_bpf> skeleton;
  KernelSymbols symbols;
  explicit State(const KernelPaths& paths) : symbols(paths) {}
};

TaskStateScanner::TaskStateScanner(const KernelPaths& paths)
    : state_(std::make_unique<State>(paths)) {
  // No livepatch check: the scanner also runs, counting every task idle, where it is off.
  std::error_code ec;
  if (!std::filesystem::exists(paths.sysfs / "kernel/btf/vmlinux", ec)) {
    throw BpfError(
        "kernel has no BTF: CONFIG_DEBUG_INFO_BTF is off (no /sys/kernel/btf/vmlinux); "
        "lpmon's task scanner needs it");
  }
  const std::string name = "task_state";
  if (!state_->skeleton) throw BpfError(describe_bpf_failure("cannot open", name, errno));
  if (int err = state_->skeleton.load()) {
    throw BpfError(describe_bpf_failure("cannot load", name, err));
  }
  if (int err = state_->skeleton.attach()) {
    throw BpfError(describe_bpf_failure("cannot attach", name, err));
  }
}

TaskStateScanner::~TaskStateScanner() = default;

TaskStateScan TaskStateScanner::scan(int target_state, bool symbolize) {
  task_state_bpf* skel = state_->skeleton.get();
  skel->data->target_state = target_state;
  skel->bss->have_patch_state = false;
  skel->bss->idle = skel->bss->unpatched = skel->bss->patched = skel->bss->other = 0;

  const int fd = bpf_iter_create(bpf_link__fd(skel->links.scan_tasks));
  if (fd < 0) throw BpfError(describe_bpf_failure("cannot start", "task_state", errno));
  std::vector<char> output;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw BpfError(describe_bpf_failure("reading the output of", "task_state", error));
    }
    if (n == 0) break;
    output.insert(output.end(), buffer, buffer + n);
  }
  ::close(fd);

  TaskStateScan scan;
  scan.patch_state_available = skel->bss->have_patch_state;
  scan.idle = skel->bss->idle;
  scan.unpatched = skel->bss->unpatched;
  scan.patched = skel->bss->patched;
  scan.other = skel->bss->other;
  constexpr std::size_t kRecord = sizeof(lpmon_task_state_record);
  if (output.size() % kRecord != 0) {
    throw BpfError("task_state output of " + std::to_string(output.size()) +
                   " bytes is not a whole number of " + std::to_string(kRecord) + "-byte records");
  }
  for (std::size_t offset = 0; offset < output.size(); offset += kRecord) {
    scan.not_at_target.push_back(decode_task_state_record(output.data() + offset, kRecord));
  }
  std::sort(scan.not_at_target.begin(), scan.not_at_target.end(),
            [](const TaskStateTask& a, const TaskStateTask& b) { return a.pid < b.pid; });
  if (symbolize && !scan.not_at_target.empty()) {
    state_->symbols.refresh();
    for (auto& task : scan.not_at_target) {
      for (auto& frame : task.stack) frame.symbol = state_->symbols.describe(frame.address);
    }
  }
  return scan;
}

}  // namespace lpmon::bpf
