#include "kernel_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace lpmon::detail {

FileText read_kernel_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {.error = errno};

  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t count = ::read(fd, buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) {
      const int error = errno;
      ::close(fd);
      return {.error = error};
    }
    if (count == 0) break;
    text.append(buffer, static_cast<std::size_t>(count));
  }
  ::close(fd);

  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return {.text = std::move(text)};
}

}  // namespace lpmon::detail
