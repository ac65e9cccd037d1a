#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace lpmon {

// The functions a kernel image or module declares in its BTF, by name. Used to check, before
// building a patch, that every function it replaces exists in the target kernel.
class BtfFunctions {
 public:
  // `file` is a vmlinux (ELF with .BTF), raw BTF (/sys/kernel/btf/vmlinux) or, with `base`,
  // a module .ko whose BTF is split over the base's. Only the file's own functions are kept.
  // Throws KernelError naming the file when it has no readable BTF.
  static BtfFunctions load(const std::filesystem::path& file,
                           const std::optional<std::filesystem::path>& base = std::nullopt);

  // How many functions of that name the BTF declares (static functions can repeat).
  std::size_t count(std::string_view name) const;
  std::size_t size() const { return counts_.size(); }

 private:
  std::unordered_map<std::string, std::size_t> counts_;
};

// The release (`uname -r`) a vmlinux was built as, from its "Linux version <release> "
// banner; nullopt when the file has none (e.g. raw BTF).
std::optional<std::string> vmlinux_release(const std::filesystem::path& vmlinux);

// The release (`uname -r`) of a bootable x86 kernel image (vmlinuz), from the version string
// its boot header points to; nullopt when the file is no bzImage.
std::optional<std::string> bzimage_release(const std::filesystem::path& bzimage);

// The release a kernel build tree (KDIR) builds modules for, from
// include/generated/utsrelease.h (what vermagic says); nullopt when the tree has none.
std::optional<std::string> kbuild_release(const std::filesystem::path& kdir);

}  // namespace lpmon
