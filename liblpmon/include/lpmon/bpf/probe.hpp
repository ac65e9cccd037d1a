#pragma once

#include <stdexcept>
#include <string>

#include "lpmon/kernel_paths.hpp"

namespace lpmon::bpf {

// Thrown when a BPF program cannot be opened, loaded or attached. The message names the
// program, what failed, why, and what to do; it is meant to be shown as is.
class BpfError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checks what every lpmon BPF program needs, before libbpf gets to fail with a verifier log:
// kernel BTF (CO-RE and fentry), livepatch (the klp_* functions to attach to), and the
// privileges to load tracing programs. Throws BpfError or LivepatchUnsupportedError.
void require_bpf_tracing(const KernelPaths& paths);

// Routes libbpf's own messages to stderr when verbose, and keeps the last warnings otherwise,
// so that errors can quote them. Process-wide, as libbpf's print callback is.
void set_libbpf_verbose(bool verbose);

// libbpf's last warning lines (at most a few), for error messages.
std::string last_libbpf_warnings();

// "<what> <program>: <strerror(-err)>" plus a hint for the errnos that have an obvious
// cause (EPERM: privileges; ENOENT/ESRCH: missing kernel function), and libbpf's warnings.
std::string describe_bpf_failure(const std::string& what, const std::string& program, int err);

}  // namespace lpmon::bpf
