#pragma once

#include <filesystem>
#include <string_view>

namespace lpmon::store {

// Replaces `file` with `content` so that a crash at any point leaves the old file or the new
// one: a temporary file in the same directory, fsync, rename over `file`, fsync of the
// directory. Throws StoreError naming the file and the failing step.
void write_file_atomically(const std::filesystem::path& file, std::string_view content,
                           unsigned mode = 0644);

// Removes `file` and syncs its directory, so the removal survives a crash too. A missing
// file is not an error.
void remove_durably(const std::filesystem::path& file);

// An exclusive flock on <dir>/.lock for one change of the store: two lpmon runs never
// interleave their manifest updates.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::filesystem::path& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace lpmon::store
