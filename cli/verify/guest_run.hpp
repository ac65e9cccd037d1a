// Where lpmon verify finds its run-time data and keeps its work, and how it picks the
// accelerator for the guest.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>

namespace lpmon::cli::verify {

// Where lpmon's run-time data is: $LPMON_DATA_DIR, else <prefix>/share/lpmon next to the
// binary (the build tree has the same layout: build/cli/lpmon, build/share/lpmon).
std::filesystem::path data_dir();

// $XDG_CACHE_HOME/lpmon, ~/.cache/lpmon, or one in the temporary directory.
std::filesystem::path cache_dir();

// lpmon-exporter next to this binary (installed or in the build tree), to run in the guest.
std::optional<std::filesystem::path> exporter_binary();

// kvm when /dev/kvm can create a VM and qemu can start a KVM vCPU on it (some hosts, e.g.
// nested ones, have a /dev/kvm on which qemu aborts at once), else tcg; and why.
std::pair<std::string, std::string> choose_accel(const std::string& wanted);

// The last `n` lines of a log file.
std::string file_tail(const std::filesystem::path& file, std::size_t n);

}  // namespace lpmon::cli::verify
