#include "lpmon/kernel_image.hpp"

#include <bpf/btf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "lpmon/errors.hpp"

namespace lpmon {
namespace {

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

BtfPtr parse_btf(const std::filesystem::path& file, btf* base) {
  btf* parsed = base ? btf__parse_split(file.c_str(), base) : btf__parse(file.c_str(), nullptr);
  if (!parsed) {
    const int err = errno;
    throw KernelError("cannot read BTF from " + file.string() + ": " + std::strerror(err) +
                      (err == ENOENT || err == ENODATA
                           ? " (no .BTF section: build the module with BTF, e.g. pahole -J "
                             "--btf_base vmlinux)"
                           : ""));
  }
  return BtfPtr(parsed);
}

}  // namespace

BtfFunctions BtfFunctions::load(const std::filesystem::path& file,
                                const std::optional<std::filesystem::path>& base) {
  BtfPtr base_btf;
  if (base) base_btf = parse_btf(*base, nullptr);
  BtfPtr own = parse_btf(file, base_btf.get());
  BtfFunctions functions;
  // A split BTF numbers its own types after the base's.
  const unsigned first = base_btf ? btf__type_cnt(base_btf.get()) : 1;
  const unsigned end = btf__type_cnt(own.get());
  for (unsigned id = first; id < end; ++id) {
    const btf_type* type = btf__type_by_id(own.get(), id);
    if (!type || !btf_is_func(type)) continue;
    ++functions.counts_[btf__name_by_offset(own.get(), type->name_off)];
  }
  return functions;
}

std::size_t BtfFunctions::count(std::string_view name) const {
  const auto it = counts_.find(std::string(name));
  return it == counts_.end() ? 0 : it->second;
}

std::optional<std::string> vmlinux_release(const std::filesystem::path& vmlinux) {
  const int fd = open(vmlinux.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::optional<std::string> release;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    void* map = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED) {
      const std::string_view data(static_cast<const char*>(map), st.st_size);
      static constexpr std::string_view banner = "Linux version ";
      // The first hit can be a format string ("Linux version %s"); the banner has a digit.
      for (auto pos = data.find(banner); pos != std::string_view::npos;
           pos = data.find(banner, pos + 1)) {
        const auto start = pos + banner.size();
        if (start < data.size() && data[start] >= '0' && data[start] <= '9') {
          const auto end = data.find(' ', start);
          if (end != std::string_view::npos) release = std::string(data.substr(start, end - start));
          break;
        }
      }
      munmap(map, st.st_size);
    }
  }
  close(fd);
  return release;
}

std::optional<std::string> kbuild_release(const std::filesystem::path& kdir) {
  // Not include/config/kernel.release: Debian puts the upstream version there (6.1.192),
  // while modules get UTS_RELEASE (6.1.0-56-amd64) in their vermagic.
  std::ifstream in(kdir / "include/generated/utsrelease.h");
  static constexpr std::string_view define = "#define UTS_RELEASE \"";
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(define)) continue;
    const auto end = line.find('"', define.size());
    if (end == std::string::npos) return std::nullopt;
    return line.substr(define.size(), end - define.size());
  }
  return std::nullopt;
}

}  // namespace lpmon

namespace lpmon {

std::optional<std::string> bzimage_release(const std::filesystem::path& bzimage) {
  // x86 boot protocol (Documentation/x86/boot.rst): "HdrS" at 0x202, and at 0x20e the offset,
  // less 0x200, of the version string "<release> (<builder>) #<n> ...".
  std::ifstream in(bzimage, std::ios::binary);
  char header[0x210];
  if (!in.read(header, sizeof header) || std::string_view(header + 0x202, 4) != "HdrS") {
    return std::nullopt;
  }
  const unsigned offset =
      static_cast<unsigned char>(header[0x20e]) | static_cast<unsigned char>(header[0x20f]) << 8;
  if (offset == 0) return std::nullopt;
  in.seekg(offset + 0x200);
  std::string release;
  for (char c; release.size() < 256 && in.get(c) && c != ' ' && c != '\0';) release += c;
  if (release.empty() || release[0] < '0' || release[0] > '9') return std::nullopt;
  return release;
}

}  // namespace lpmon
