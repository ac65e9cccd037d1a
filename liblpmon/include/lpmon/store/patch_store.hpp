#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lpmon/exit_codes.hpp"
#include "lpmon/module_inspector.hpp"

namespace lpmon::store {

// Where installed patches live. Tests and the guest point it elsewhere (--store-root).
inline constexpr std::string_view kDefaultStoreRoot = "/var/lib/lpmon";

// The store cannot be read or written, or refuses an input (a module that is not a
// livepatch, a manifest that was tampered with). The message is one line for the user.
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const std::string& message, ExitCode code = ExitCode::runtime_error)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// One installed module file: a release of the patch level of one kernel release.
struct StoredRelease {
  std::string id;      // "<module name>-<first 12 hex of sha256>", also the file's stem
  std::string name;    // the module (and patch) name the kernel uses
  std::string sha256;  // of the module file, checked again before each load
  std::string kernel;  // the release in the module's vermagic
  std::string vermagic;
  std::string version;            // MODULE_VERSION, may be empty
  std::string srcversion;         // may be empty
  std::vector<std::string> cves;  // lpmon build's lpmon_cves metadata
  bool replace = false;           // atomic replace (cumulative)
  std::string installed_at;       // UTC, ISO 8601
};

// The patch level of one kernel release: the stored releases, which of them is current (what
// boot loads) and which was current before it (what a failed upgrade returns to).
struct KernelPatchLevel {
  std::string kernel;
  std::vector<StoredRelease> releases;  // in install order
  std::string current;                  // a release id, or empty
  std::string previous;                 // a release id, or empty

  const StoredRelease* find(std::string_view id) const;
  const StoredRelease* current_release() const { return find(current); }
  const StoredRelease* previous_release() const { return find(previous); }
};

// The patch store: <root>/kernels/<release>/manifest.json and the module files next to it
// (<id>.ko). Every change writes a temporary file, syncs it and renames it over the old one,
// so a crash leaves the old or the new state, never a torn one. The store does not touch the
// kernel; lpmon install/uninstall/boot combine it with liblpmon's apply and revert.
class PatchStore {
 public:
  explicit PatchStore(std::filesystem::path root = std::filesystem::path(kDefaultStoreRoot));

  const std::filesystem::path& root() const { return root_; }

  // Copies the module file into the store after checking it with the module reader (a
  // regular file, a livepatch, a plain release in vermagic), and records it for its kernel.
  // It does not become current: that is mark_current's job once it is applied. Installing
  // the same file again returns the stored release. Throws ModuleFileError for an unreadable
  // or malformed file, StoreError for a module that cannot be stored.
  StoredRelease add(const std::filesystem::path& module);

  // Makes `id` the current release of `kernel`; the current one before becomes previous.
  void mark_current(const std::string& kernel, const std::string& id);
  // Makes the previous release current again (a failed upgrade was rolled back to it).
  void restore_previous(const std::string& kernel);

  // Removes a release (module file and record). Removing the current release makes the
  // previous one current again (the patch level before it); removing the previous leaves
  // none. Returns false when it is not stored.
  bool remove(const std::string& kernel, const std::string& id);

  // Every kernel release with a stored patch level, sorted.
  std::vector<std::string> kernels() const;
  // The patch level of `kernel`; empty when nothing is stored for it.
  KernelPatchLevel level(const std::string& kernel) const;

  // The stored module file of a release, after checking that its hash is still the one
  // recorded (a changed file is refused with StoreError, never loaded).
  std::filesystem::path verified_module(const StoredRelease& release) const;

  std::filesystem::path kernel_dir(const std::string& kernel) const;

 private:
  void write_level(const KernelPatchLevel& level) const;

  std::filesystem::path root_;
};

// Hex SHA-256 of a file's content.
std::string sha256_file(const std::filesystem::path& file);

// Whether `s` may name a kernel release or a release id in a path: [A-Za-z0-9._+-], not "."
// or "..", at most 128 characters.
bool safe_path_component(std::string_view s);

}  // namespace lpmon::store
