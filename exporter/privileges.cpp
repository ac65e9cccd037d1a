#include "privileges.hpp"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace lpmon::exporter {

std::vector<int> serving_capabilities(bool low_port) {
  std::vector<int> caps{CAP_DAC_READ_SEARCH};
  if (low_port) caps.push_back(CAP_NET_BIND_SERVICE);
  return caps;
}

std::vector<int> attaching_capabilities() {
  return {CAP_DAC_READ_SEARCH, CAP_BPF, CAP_PERFMON, CAP_SYSLOG, CAP_SYS_ADMIN};
}

std::uint64_t capability_mask(const std::vector<int>& caps) {
  std::uint64_t mask = 0;
  for (int cap : caps) mask |= std::uint64_t{1} << cap;
  return mask;
}

DroppedCapabilities drop_capabilities(const std::vector<int>& keep) {
  std::unique_ptr<_cap_struct, int (*)(void*)> current(cap_get_proc(), cap_free);
  std::vector<cap_value_t> kept;
  for (cap_value_t cap : keep) {
    cap_flag_value_t permitted = CAP_CLEAR;
    if (current) cap_get_flag(current.get(), cap, CAP_PERMITTED, &permitted);
    if (permitted == CAP_SET) kept.push_back(cap);
  }
  std::unique_ptr<_cap_struct, int (*)(void*)> wanted(cap_init(), cap_free);
  if (!kept.empty()) {
    cap_set_flag(wanted.get(), CAP_PERMITTED, static_cast<int>(kept.size()), kept.data(), CAP_SET);
    cap_set_flag(wanted.get(), CAP_EFFECTIVE, static_cast<int>(kept.size()), kept.data(), CAP_SET);
  }
  // The bounding set goes too, so not even an exec could bring a capability back. Dropping
  // from it needs CAP_SETPCAP, which goes with cap_set_proc below: so first.
  cap_flag_value_t setpcap = CAP_CLEAR;
  if (current) cap_get_flag(current.get(), CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
  DroppedCapabilities result;
  result.bounding_dropped = setpcap == CAP_SET;
  for (cap_value_t cap = 0; result.bounding_dropped && cap <= CAP_LAST_CAP; ++cap) {
    if (std::find(kept.begin(), kept.end(), cap) == kept.end() && CAP_IS_SUPPORTED(cap) &&
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      throw std::runtime_error("cannot drop capability " + std::to_string(cap) +
                               " from the bounding set: " + std::strerror(errno));
    }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (cap_set_proc(wanted.get()) != 0) {
    throw std::runtime_error(std::string("cannot drop capabilities: ") + std::strerror(errno));
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    throw std::runtime_error(std::string("cannot set no_new_privs: ") + std::strerror(errno));
  }
  std::string names;
  for (cap_value_t cap : kept) {
    result.kept |= std::uint64_t{1} << cap;
    char* name = cap_to_name(cap);
    names += (names.empty() ? "" : ", ") + std::string(name ? name : "?");
    cap_free(name);
  }
  result.message = kept.empty() ? "no capabilities to keep; dropped all"
                                : "dropped all capabilities but " + names;
  return result;
}

std::optional<ThreadPrivileges> parse_thread_status(std::string_view status) {
  ThreadPrivileges p;
  int seen = 0;
  std::istringstream in{std::string(status)};
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    const std::string value = line.substr(colon + 1);
    std::uint64_t* field = key == "CapInh"   ? &p.inheritable
                           : key == "CapPrm" ? &p.permitted
                           : key == "CapEff" ? &p.effective
                           : key == "CapBnd" ? &p.bounding
                           : key == "CapAmb" ? &p.ambient
                                             : nullptr;
    try {
      if (field) {
        *field = std::stoull(value, nullptr, 16);
        ++seen;
      } else if (key == "NoNewPrivs") {
        p.no_new_privs = std::stoi(value) == 1;
        ++seen;
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (seen != 6) return std::nullopt;
  return p;
}

std::vector<std::string> threads_beyond(std::uint64_t allowed, bool check_bounding,
                                        const std::map<pid_t, std::uint64_t>& allowed_by_thread,
                                        const std::filesystem::path& procfs_root) {
  std::vector<std::string> problems;
  std::error_code ec;
  const std::filesystem::path tasks = procfs_root / "self/task";
  std::filesystem::directory_iterator it(tasks, ec);
  if (ec) return {"cannot list " + tasks.string() + ": " + ec.message()};
  for (const auto& entry : it) {
    const std::string tid = entry.path().filename().string();
    std::ifstream file(entry.path() / "status");
    std::stringstream text;
    text << file.rdbuf();
    const auto p = parse_thread_status(text.str());
    if (!file || !p) {
      // A thread that ended meanwhile has no status any more: it holds nothing.
      if (std::filesystem::exists(entry.path())) {
        problems.push_back("thread " + tid + ": cannot read its status");
      }
      continue;
    }
    char sets[160];
    std::snprintf(sets, sizeof sets, "CapEff=%016llx CapPrm=%016llx CapBnd=%016llx",
                  static_cast<unsigned long long>(p->effective),
                  static_cast<unsigned long long>(p->permitted),
                  static_cast<unsigned long long>(p->bounding));
    const std::uint64_t held = p->effective | p->permitted | p->inheritable | p->ambient |
                               (check_bounding ? p->bounding : 0);
    std::uint64_t may = allowed;
    try {
      if (auto own = allowed_by_thread.find(std::stoi(tid)); own != allowed_by_thread.end()) {
        may = own->second;
      }
    } catch (const std::exception&) {
    }
    if ((held & ~may) != 0) {
      problems.push_back("thread " + tid + " holds more than it may: " + sets);
    } else if (!p->no_new_privs) {
      problems.push_back("thread " + tid + " lacks no_new_privs");
    }
  }
  return problems;
}

}  // namespace lpmon::exporter
