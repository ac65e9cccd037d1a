// lpmon boot's crash-loop guard: a marker per kernel release in the store.
#include "lpmon/store/boot_marker.hpp"

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "store/atomic_file.hpp"

namespace lpmon::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path marker_file(const PatchStore& store, const std::string& kernel) {
  return store.kernel_dir(kernel) / "boot-marker.json";
}

}  // namespace

std::optional<BootMarker> read_boot_marker(const PatchStore& store, const std::string& kernel) {
  std::ifstream in(marker_file(store, kernel));
  if (!in) return std::nullopt;
  try {
    const json j = json::parse(in);
    BootMarker marker{j.at("state").get<std::string>(), j.at("release").get<std::string>(),
                      j.value("boot_id", ""), j.value("time", "")};
    if (marker.state != "loading" && marker.state != "ok") return std::nullopt;
    return marker;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

void write_boot_marker(const PatchStore& store, const std::string& kernel,
                       const BootMarker& marker) {
  const json j{{"state", marker.state},
               {"release", marker.release},
               {"boot_id", marker.boot_id},
               {"time", marker.time}};
  write_file_atomically(marker_file(store, kernel), j.dump() + "\n");
}

void clear_boot_marker(const PatchStore& store, const std::string& kernel) {
  remove_durably(marker_file(store, kernel));
}

std::string current_boot_id(const KernelPaths& paths) {
  std::ifstream in(paths.procfs / "sys" / "kernel" / "random" / "boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

std::optional<BootMarker> crashed_load(const PatchStore& store, const std::string& kernel,
                                       const KernelPaths& paths) {
  std::optional<BootMarker> marker = read_boot_marker(store, kernel);
  if (!marker || marker->state != "loading") return std::nullopt;
  // A load of this boot that is still running is not a crash of an earlier one.
  const std::string boot = current_boot_id(paths);
  if (!boot.empty() && marker->boot_id == boot) return std::nullopt;
  return marker;
}

}  // namespace lpmon::store
