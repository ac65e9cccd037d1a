// Durable file updates for the patch store and the boot markers.
#include "store/atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "lpmon/store/patch_store.hpp"

namespace lpmon::store {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what, const fs::path& file) {
  throw StoreError(what + " " + file.string() + ": " + std::strerror(errno));
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail("cannot sync directory", dir);
}

}  // namespace

void write_file_atomically(const fs::path& file, std::string_view content, unsigned mode) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) throw StoreError("cannot create " + file.parent_path().string() + ": " + ec.message());
  std::string tmp = (file.parent_path() / ("." + file.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) fail("cannot create a temporary file for", file);
  const char* data = content.data();
  std::size_t left = content.size();
  bool ok = ::fchmod(fd, mode) == 0;
  while (ok && left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = ok ? errno : saved;
    ::unlink(tmp.c_str());
    errno = err;
    fail("cannot write", file);
  }
  sync_directory(file.parent_path());
}

void remove_durably(const fs::path& file) {
  if (::unlink(file.c_str()) != 0) {
    if (errno == ENOENT) return;
    fail("cannot remove", file);
  }
  sync_directory(file.parent_path());
}

DirectoryLock::DirectoryLock(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw StoreError("cannot create " + dir.string() + ": " + ec.message());
  const fs::path file = dir / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) fail("cannot open", file);
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      ::close(fd_);
      fail("cannot lock", file);
    }
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace lpmon::store
