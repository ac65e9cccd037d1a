// The patch store: module files and one manifest per kernel release.
#include "lpmon/store/patch_store.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>

#include "lpmon/util/clock.hpp"
#include "store/atomic_file.hpp"

namespace lpmon::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Module files are small (kilobytes); a bigger file is not a patch lpmon built.
constexpr std::uint64_t kMaxModuleSize = 64ull << 20;

std::string hex_sha256(std::span<const std::byte> data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw StoreError("SHA-256 failed (OpenSSL)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

// The whole of an opened module file, read from its descriptor (the file that was checked).
std::vector<std::byte> read_all(const ModuleFile& file) {
  if (file.size() > kMaxModuleSize) {
    throw StoreError(file.path().string() + ": " + std::to_string(file.size()) +
                         " bytes is too big for a livepatch module; nothing was stored",
                     ExitCode::invalid_input);
  }
  std::vector<std::byte> bytes(file.size());
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(file.fd(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw StoreError("cannot read " + file.path().string() + "; nothing was stored",
                       ExitCode::unreadable_file);
    }
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

json to_json(const StoredRelease& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"sha256", r.sha256},
          {"kernel", r.kernel},
          {"vermagic", r.vermagic},
          {"version", r.version},
          {"srcversion", r.srcversion},
          {"cves", r.cves},
          {"replace", r.replace},
          {"installed_at", r.installed_at}};
}

// A manifest is root's file, but a bad one must give a clear error, not load a wrong path.
StoredRelease release_from_json(const json& j, const fs::path& manifest) {
  StoredRelease r;
  r.id = j.at("id").get<std::string>();
  r.name = j.at("name").get<std::string>();
  r.sha256 = j.at("sha256").get<std::string>();
  r.kernel = j.at("kernel").get<std::string>();
  r.vermagic = j.value("vermagic", "");
  r.version = j.value("version", "");
  r.srcversion = j.value("srcversion", "");
  r.cves = j.value("cves", std::vector<std::string>{});
  r.replace = j.value("replace", false);
  r.installed_at = j.value("installed_at", "");
  if (!safe_path_component(r.id) || r.sha256.size() != 64) {
    throw StoreError(manifest.string() + ": release '" + r.id +
                     "' has a malformed id or hash; fix or remove the manifest");
  }
  return r;
}

}  // namespace

bool safe_path_component(std::string_view s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '+' || c == '-';
  });
}

std::string sha256_file(const fs::path& file) {
  ModuleFile opened(file);
  const std::vector<std::byte> bytes = read_all(opened);
  return hex_sha256(bytes);
}

const StoredRelease* KernelPatchLevel::find(std::string_view id) const {
  if (id.empty()) return nullptr;
  const auto it = std::find_if(releases.begin(), releases.end(),
                               [&](const StoredRelease& r) { return r.id == id; });
  return it == releases.end() ? nullptr : &*it;
}

PatchStore::PatchStore(fs::path root) : root_(std::move(root)) {}

fs::path PatchStore::kernel_dir(const std::string& kernel) const {
  if (!safe_path_component(kernel)) {
    throw StoreError("'" + kernel + "' is not a kernel release lpmon can store patches for",
                     ExitCode::invalid_input);
  }
  return root_ / "kernels" / kernel;
}

std::vector<std::string> PatchStore::kernels() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_ / "kernels", ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && safe_path_component(name) &&
        fs::exists(entry.path() / "manifest.json")) {
      out.push_back(name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

KernelPatchLevel PatchStore::level(const std::string& kernel) const {
  KernelPatchLevel level;
  level.kernel = kernel;
  const fs::path manifest = kernel_dir(kernel) / "manifest.json";
  std::ifstream in(manifest);
  if (!in) {
    if (fs::exists(manifest)) throw StoreError("cannot read " + manifest.string());
    return level;
  }
  try {
    const json j = json::parse(in);
    for (const json& r : j.at("releases")) level.releases.push_back(release_from_json(r, manifest));
    level.current = j.value("current", "");
    level.previous = j.value("previous", "");
  } catch (const json::exception& error) {
    throw StoreError(manifest.string() + " is malformed (" + error.what() +
                     "); fix or remove it (lpmon uninstall --all starts over)");
  }
  if (!level.current.empty() && !level.find(level.current)) level.current.clear();
  if (!level.previous.empty() && !level.find(level.previous)) level.previous.clear();
  return level;
}

void PatchStore::write_level(const KernelPatchLevel& level) const {
  const fs::path dir = kernel_dir(level.kernel);
  if (level.releases.empty()) {
    remove_durably(dir / "manifest.json");
    return;
  }
  json releases = json::array();
  for (const StoredRelease& r : level.releases) releases.push_back(to_json(r));
  const json j{{"kernel", level.kernel},
               {"current", level.current},
               {"previous", level.previous},
               {"releases", releases}};
  write_file_atomically(dir / "manifest.json", j.dump(2) + "\n");
}

StoredRelease PatchStore::add(const fs::path& module) {
  ModuleFile file(module);
  std::vector<std::byte> bytes = read_all(file);
  ModuleInspector inspector;
  const ModuleInfo info = inspector.inspect(bytes, module.string());
  if (!info.livepatch) {
    throw StoreError(module.string() + ": " + info.name +
                         " is a kernel module but not a livepatch (no livepatch=Y in .modinfo); "
                         "nothing was stored",
                     ExitCode::not_livepatch);
  }
  if (!info.release || !safe_path_component(*info.release)) {
    throw StoreError(module.string() + ": vermagic '" + info.vermagic.value_or("") +
                         "' names no kernel release; nothing was stored",
                     ExitCode::corrupt_module);
  }
  StoredRelease release;
  release.name = info.name;
  release.sha256 = hex_sha256(bytes);
  release.id = info.name + "-" + release.sha256.substr(0, 12);
  release.kernel = *info.release;
  release.vermagic = info.vermagic.value_or("");
  release.version = info.version.value_or("");
  release.srcversion = info.srcversion.value_or("");
  if (info.lpmon) release.cves = info.lpmon->cves;
  release.replace = info.patch.replace.value_or(false);
  release.installed_at = utc_timestamp(std::chrono::system_clock::now(), 0);

  DirectoryLock lock(root_);
  KernelPatchLevel level = this->level(release.kernel);
  if (const StoredRelease* stored = level.find(release.id)) {
    if (fs::exists(kernel_dir(release.kernel) / (release.id + ".ko"))) return *stored;
  } else {
    level.releases.push_back(release);
  }
  const std::string_view content(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  write_file_atomically(kernel_dir(release.kernel) / (release.id + ".ko"), content, 0600);
  write_level(level);
  return *level.find(release.id);
}

void PatchStore::mark_current(const std::string& kernel, const std::string& id) {
  DirectoryLock lock(root_);
  KernelPatchLevel level = this->level(kernel);
  if (!level.find(id)) throw StoreError(id + " is not stored for kernel " + kernel);
  if (level.current == id) return;
  level.previous = level.current;
  level.current = id;
  write_level(level);
}

void PatchStore::restore_previous(const std::string& kernel) {
  DirectoryLock lock(root_);
  KernelPatchLevel level = this->level(kernel);
  if (level.previous.empty()) return;
  level.current = level.previous;
  level.previous.clear();
  write_level(level);
}

bool PatchStore::remove(const std::string& kernel, const std::string& id) {
  DirectoryLock lock(root_);
  KernelPatchLevel level = this->level(kernel);
  const auto it = std::find_if(level.releases.begin(), level.releases.end(),
                               [&](const StoredRelease& r) { return r.id == id; });
  if (it == level.releases.end()) return false;
  level.releases.erase(it);
  if (level.current == id) {
    level.current = level.previous;  // back to the level before it
    level.previous.clear();
  }
  if (level.previous == id) level.previous.clear();
  // The record goes first: a crash in between leaves a stray file, never a record without one.
  write_level(level);
  remove_durably(kernel_dir(kernel) / (id + ".ko"));
  return true;
}

fs::path PatchStore::verified_module(const StoredRelease& release) const {
  const fs::path file = kernel_dir(release.kernel) / (release.id + ".ko");
  std::string actual;
  try {
    actual = sha256_file(file);
  } catch (const ModuleFileError& error) {
    throw StoreError(std::string(error.what()) + " (stored release " + release.id +
                     "); reinstall it with lpmon install");
  }
  if (actual != release.sha256) {
    throw StoreError(file.string() + " changed since it was installed (SHA-256 " +
                     actual.substr(0, 12) + ", recorded " + release.sha256.substr(0, 12) +
                     "); it is not loaded: reinstall the release with lpmon install");
  }
  return file;
}

}  // namespace lpmon::store
