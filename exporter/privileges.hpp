#pragma once

#include <string>

namespace lpmon::exporter {

// Once the port is bound and the tracer attached, the exporter keeps CAP_DAC_READ_SEARCH
// (other users' /proc/<pid>/patch_state is mode 0400) and, with `attaching`, what attaching
// probes to patches that arrive later needs (CAP_BPF, CAP_PERFMON; CAP_SYSLOG for kallsyms
// addresses); every other capability goes for good (no new privileges either). Returns
// what it did, for the log; throws std::runtime_error when the kernel refuses.
std::string drop_capabilities(bool attaching);

}  // namespace lpmon::exporter
