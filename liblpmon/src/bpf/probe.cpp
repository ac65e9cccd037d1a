#include "lpmon/bpf/probe.hpp"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <vector>

#include "lpmon/livepatch_state.hpp"

namespace lpmon::bpf {
namespace {

std::mutex libbpf_log_mutex;
std::deque<std::string> libbpf_warnings;  // the last few, for error messages
bool libbpf_verbose = false;
constexpr std::size_t kKeptWarnings = 4;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  std::lock_guard lock(libbpf_log_mutex);
  if (libbpf_verbose) return vfprintf(stderr, format, args);
  if (level != LIBBPF_WARN) return 0;
  // A verifier log is one long message whose reason is at its end: keep the end.
  std::vector<char> line(64 * 1024);
  int n = vsnprintf(line.data(), line.size(), format, args);
  std::string text(line.data());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  constexpr std::size_t kKeptChars = 600;
  if (text.size() > kKeptChars) text = "..." + text.substr(text.size() - kKeptChars);
  libbpf_warnings.push_back(std::move(text));
  if (libbpf_warnings.size() > kKeptWarnings) libbpf_warnings.pop_front();
  return n;
}

}  // namespace

void set_libbpf_verbose(bool verbose) {
  {
    std::lock_guard lock(libbpf_log_mutex);
    libbpf_verbose = verbose;
  }
  libbpf_set_print(libbpf_print);
}

std::string last_libbpf_warnings() {
  std::lock_guard lock(libbpf_log_mutex);
  std::string out;
  for (const auto& line : libbpf_warnings) {
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

std::string describe_bpf_failure(const std::string& what, const std::string& program, int err) {
  err = err < 0 ? -err : err;
  std::string message = what + " BPF program " + program + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES) {
    message += " (needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)";
  } else if (err == ENOENT || err == ESRCH) {
    message += " (a kernel function it traces is missing or not traceable on this kernel)";
  }
  if (auto warnings = last_libbpf_warnings(); !warnings.empty()) {
    message += "; libbpf: " + warnings;
  }
  return message;
}

void require_bpf_tracing(const KernelPaths& paths) {
  // Order matters for the message: livepatch first, since without it nothing here applies.
  require_livepatch(paths);
  std::error_code ec;
  if (!std::filesystem::exists(paths.sysfs / "kernel/btf/vmlinux", ec)) {
    throw BpfError(
        "kernel has no BTF: CONFIG_DEBUG_INFO_BTF is off (no /sys/kernel/btf/vmlinux); "
        "lpmon's BPF tracing needs it");
  }
  if (geteuid() != 0 && libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACING, nullptr) <= 0) {
    throw BpfError(
        "cannot load BPF tracing programs as this user: run as root, or grant CAP_BPF, "
        "CAP_PERFMON and CAP_SYS_RESOURCE");
  }
}

}  // namespace lpmon::bpf
