#include "verify/guest_run.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>

#include "lpmon/util/process.hpp"
#include "verify/artifacts.hpp"
#include "verify/verify.hpp"

namespace lpmon::cli::verify {

fs::path data_dir() {
  if (const char* env = std::getenv("LPMON_DATA_DIR"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path().parent_path() / "share" / "lpmon";
}

fs::path cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "lpmon";
  if (const char* home = std::getenv("HOME"); home && *home) {
    return fs::path(home) / ".cache" / "lpmon";
  }
  return fs::temp_directory_path() / "lpmon-cache";
}

std::optional<fs::path> exporter_binary() {
  std::error_code ec;
  const fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const fs::path& candidate :
       {dir / "lpmon-exporter", dir.parent_path() / "exporter" / "lpmon-exporter"}) {
    if (fs::exists(candidate)) return candidate;
  }
  return std::nullopt;
}

std::pair<std::string, std::string> choose_accel(const std::string& wanted) {
  if (wanted == "tcg") return {"tcg", "--accel tcg"};
  if (wanted == "kvm") return {"kvm", "--accel kvm"};
  const int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return {"tcg", "no usable /dev/kvm"};
  const int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  close(kvm);
  if (vm < 0) return {"tcg", "/dev/kvm cannot create a VM"};
  close(vm);
  // A qemu that stays up for a second has its vCPU set up; a broken KVM makes it abort.
  const int rc = run_process({"timeout", "1", "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host",
                              "-display", "none", "-nodefaults", "-no-reboot", "-S"},
                             {.output = ProcessOutput::log_file, .log = "/dev/null"})
                     .status;
  if (rc == 124) return {"kvm", "/dev/kvm runs a guest"};
  return {"tcg", "qemu cannot start a KVM guest here (exit " + std::to_string(rc) + ")"};
}

std::string file_tail(const fs::path& file, std::size_t n) {
  const auto lines = lines_of(read_text(file));
  std::string text;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    text += lines[i] + "\n";
  }
  return trim(text);
}

}  // namespace lpmon::cli::verify

namespace lpmon::cli {

namespace fs = std::filesystem;

fs::path fresh_work_dir(const fs::path& root, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    throw std::runtime_error("'" + name + "' is not a name for a directory in " + root.string() +
                             "; nothing was removed");
  }
  fs::create_directories(root);
  const fs::path base = fs::canonical(root);
  const fs::path work = fs::weakly_canonical(base / name);
  // A symbolic link planted at root/name may point anywhere: only a directory inside is removed.
  if (work.parent_path() != base) {
    throw std::runtime_error((base / name).string() + " resolves to " + work.string() +
                             ", outside " + base.string() + "; nothing was removed");
  }
  fs::remove_all(work);
  fs::create_directories(work);
  return work;
}

}  // namespace lpmon::cli
