#include "privileges.hpp"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace lpmon::exporter {

std::string drop_capabilities(bool attaching) {
  std::vector<cap_value_t> keep{CAP_DAC_READ_SEARCH};
  if (attaching) keep.insert(keep.end(), {CAP_BPF, CAP_PERFMON, CAP_SYSLOG});

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
  // The bounding set goes too, so not even an exec could bring a capability back.
  for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (std::find(kept.begin(), kept.end(), cap) == kept.end()) {
      prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    }
  }
  if (cap_set_proc(wanted.get()) != 0) {
    throw std::runtime_error(std::string("cannot drop capabilities: ") + std::strerror(errno));
  }
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (kept.empty()) return "no capabilities to keep; dropped all";
  std::string names;
  for (cap_value_t cap : kept) {
    char* name = cap_to_name(cap);
    names += (names.empty() ? "" : ", ") + std::string(name ? name : "?");
    cap_free(name);
  }
  return "dropped all capabilities but " + names;
}

}  // namespace lpmon::exporter
