#include "lpmon/patch_control.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "kernel_file.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/livepatch_state.hpp"

namespace lpmon {
namespace fs = std::filesystem;
namespace {

std::string why_load_failed(int error) {
  switch (error) {
    case EEXIST:
      return "a module of that name is already loaded";
    case ENOEXEC:
      return "invalid module format: built for another kernel or configuration (see the kernel "
             "log)";
    case EKEYREJECTED:
    case ENOKEY:
      return "the kernel requires a valid signature (module.sig_enforce, Secure Boot or lockdown)";
    case EPERM:
      return "not permitted: loading modules needs CAP_SYS_MODULE (root), and is impossible with "
             "kernel.modules_disabled=1 or under lockdown";
    case ENOENT:
      return "the module needs symbols the kernel does not have (see the kernel log)";
    case EINVAL:
      return "the kernel refused it (see the kernel log: livepatch says why, e.g. a function to "
             "patch was not found or a pre_patch callback refused)";
    case EBUSY:
      return "the kernel is busy: another livepatch transition is in progress";
    default:
      return detail::errno_message(error);
  }
}

void write_attribute(const fs::path& file, std::string_view value, std::string_view what) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    throw KernelError("cannot " + std::string(what) + ": " + file.string() + ": " +
                      (error == ENOENT ? "no such patch is loaded" : detail::errno_message(error)));
  }
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int error = errno;
  ::close(fd);
  if (n < 0) {
    std::string reason = detail::errno_message(error);
    if (error == EBUSY) reason = "another livepatch transition is in progress";
    if (error == EINVAL) reason = "the kernel refused (the patch is not in that state)";
    throw KernelError("cannot " + std::string(what) + ": writing " + file.string() + ": " + reason);
  }
}

}  // namespace

bool module_loaded(const KernelPaths& paths, std::string_view module) {
  std::error_code ignored;
  return fs::is_directory(module_dir(paths, module), ignored);
}

void load_module(const ModuleFile& file) {
  const long result = ::syscall(SYS_finit_module, file.fd(), "", 0);
  const int error = errno;
  if (result != 0) {
    throw KernelError("the kernel did not load " + file.path().string() + ": " +
                      why_load_failed(error));
  }
}

bool module_is_livepatch(const KernelPaths& paths, std::string_view module) {
  const detail::FileText taint = detail::read_kernel_file(module_dir(paths, module) / "taint");
  return taint.error == 0 && taint.text.find('K') != std::string::npos;
}

std::optional<std::string> module_srcversion(const KernelPaths& paths, std::string_view module) {
  const detail::FileText text = detail::read_kernel_file(module_dir(paths, module) / "srcversion");
  if (text.error != 0) return std::nullopt;
  std::string value = text.text;
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  if (value.empty()) return std::nullopt;
  return value;
}

void disable_patch(const KernelPaths& paths, std::string_view patch) {
  write_attribute(patch_dir(paths, patch) / "enabled", "0",
                  "disable livepatch " + std::string(patch));
}

void force_transition(const KernelPaths& paths, std::string_view patch) {
  write_attribute(patch_dir(paths, patch) / "force", "1",
                  "force the transition of " + std::string(patch));
}

void unload_module(std::string_view module) {
  const std::string name(module);
  if (::syscall(SYS_delete_module, name.c_str(), O_NONBLOCK) == 0) return;
  const int error = errno;
  std::string reason = detail::errno_message(error);
  if (error == EBUSY || error == EAGAIN) {
    reason = "it is in use (a livepatch stays in use while enabled or in transition)";
  } else if (error == ENOENT) {
    reason = "no such module is loaded";
  } else if (error == EPERM) {
    reason = "not permitted: needs CAP_SYS_MODULE (root)";
  }
  throw KernelError("cannot unload module " + name + ": " + reason);
}

}  // namespace lpmon
