// lpmon-exporter: livepatch metrics for Prometheus.
#include <prometheus/exposer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "calls_collector.hpp"
#include "livepatch_collector.hpp"
#include "log.hpp"
#include "lpmon/bpf/bpf_stats.hpp"
#include "lpmon/kernel_paths.hpp"
#include "merged_collector.hpp"
#include "privileges.hpp"
#include "transition_collector.hpp"
#include "web_config.hpp"

namespace {

using lpmon::exporter::log;
using lpmon::exporter::LogLevel;

volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) {
  stop_requested = 1;
}

// Worker threads: one per connection being served. Idle or slow clients each hold one until
// kRequestTimeoutMs has passed, so there are many more than scrapers (threads mostly sleep),
// and a scrape is served while a hundred such clients hang on (tests/exporter/slow_clients).
constexpr const char* kWorkerThreads = "128";
// The whole request (headers) must arrive within this; Prometheus' scrape timeout is 10 s.
constexpr const char* kRequestTimeoutMs = "10000";

// The port of "address:port" or ":port"; 0 when there is none.
int port_of(const std::string& listen) {
  const auto colon = listen.rfind(':');
  try {
    return colon == std::string::npos ? 0 : std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    return 0;
  }
}

bool loopback_only(const std::string& listen) {
  return listen.starts_with("127.") || listen.starts_with("localhost:");
}

// Prometheus writes ":9812" for "every address"; CivetWeb wants "address:port" (IPv4 only:
// Debian's CivetWeb is built without IPv6), with an "s" suffix for TLS.
std::string civetweb_port(const std::string& listen, bool tls) {
  return (listen.starts_with(':') ? "0.0.0.0" + listen : listen) + (tls ? "s" : "");
}

// CivetWeb wants the key and the certificate in one PEM file. It reads it once, at start;
// the file is private to this process and removed as soon as the server runs.
std::string combined_pem(const lpmon::exporter::WebConfig::Tls& tls) {
  char path[] = "/tmp/lpmon-exporter-tls-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("cannot create a temporary file for the TLS key");
  fchmod(fd, 0600);
  close(fd);
  std::ofstream out(path);
  for (const auto& file : {tls.key_file, tls.cert_file}) {
    std::ifstream in(file);
    out << in.rdbuf() << '\n';
  }
  if (!out) throw std::runtime_error("cannot write the TLS key and certificate");
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lpmon-exporter: the livepatch state of this host for Prometheus", "lpmon-exporter"};
  app.set_version_flag("--version", "lpmon-exporter " LPMON_VERSION);
  // Loopback unless told otherwise: metrics for other hosts want --web.config.file (TLS,
  // basic auth) and --web.listen-address=:9812.
  std::string listen_address = "127.0.0.1:9812";
  std::string telemetry_path = "/metrics";
  std::string web_config_file;
  std::string log_level = "info";
  bool no_bpf = false;
  bool no_calls = false;
  bool bpf_stats = false;
  std::string calls_mode(lpmon::bpf::mode_name(lpmon::bpf::kDefaultTiming));
  std::uint32_t sample_every = lpmon::bpf::kDefaultSampleEvery;
  lpmon::KernelPaths paths;
  app.add_option("--web.listen-address", listen_address,
                 "Address to listen on (:9812 for every address)")
      ->capture_default_str();
  app.add_option("--web.telemetry-path", telemetry_path, "Path under which to expose metrics")
      ->capture_default_str();
  app.add_option("--web.config.file", web_config_file,
                 "TLS and basic-auth configuration, in Prometheus' web config format")
      ->check(CLI::ExistingFile);
  app.add_option("--log.level", log_level, "debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_flag("--no-bpf", no_bpf, "No BPF at all: sysfs and procfs only");
  app.add_flag("--no-calls", no_calls,
               "Do not count calls into patched functions (then no capability to attach is kept)");
  app.add_option("--calls.mode", calls_mode,
                 "Which calls to time: count (none), sampled or full (every call; costly)")
      ->capture_default_str()
      ->check(CLI::IsMember({"count", "sampled", "full"}));
  app.add_option("--calls.sample-every", sample_every,
                 "With --calls.mode=sampled: time 1 call in N per CPU")
      ->capture_default_str()
      ->check(CLI::Range(2u, 1u << 30));
  app.add_flag("--bpf.stats", bpf_stats,
               "Publish the run time of lpmon's probes (turns on the kernel's BPF statistics)");
  app.add_option("--sysfs-root", paths.sysfs, "Where sysfs is mounted (for tests)")
      ->capture_default_str()
      ->group("Testing");
  app.add_option("--procfs-root", paths.procfs, "Where procfs is mounted (for tests)")
      ->capture_default_str()
      ->group("Testing");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  lpmon::exporter::set_log_level(log_level);

  lpmon::exporter::WebConfig web_config;
  if (!web_config_file.empty()) {
    try {
      web_config = lpmon::exporter::WebConfig::load(web_config_file);
    } catch (const lpmon::exporter::WebConfigError& e) {
      std::fprintf(stderr, "lpmon-exporter: %s\n", e.what());
      return 2;
    }
  }

  // Everything that needs privileges happens here, in the only thread: reading the TLS key,
  // loading and attaching the BPF programs.
  std::string pem;
  try {
    if (web_config.tls) pem = combined_pem(*web_config.tls);
  } catch (const std::exception& e) {
    log(LogLevel::error, e.what());
    return 1;
  }
  struct PemRemover {
    std::string& path;
    ~PemRemover() {
      if (!path.empty()) unlink(path.c_str());
    }
  } pem_remover{pem};

  // On for as long as the exporter runs: every BPF collector then publishes its programs' cost.
  std::unique_ptr<lpmon::bpf::RunTimeStats> run_time_stats;
  if (bpf_stats && !no_bpf) {
    try {
      run_time_stats = std::make_unique<lpmon::bpf::RunTimeStats>();
    } catch (const std::exception& e) {
      log(LogLevel::warn, std::string("not publishing BPF program costs: ") + e.what());
    }
  }
  const bool publish_costs = run_time_stats != nullptr;

  auto collectors = std::make_shared<lpmon::exporter::MergedCollector>();
  collectors->add(std::make_shared<lpmon::exporter::LivepatchCollector>(paths, LPMON_VERSION));
  std::shared_ptr<lpmon::exporter::TransitionCollector> transitions;
  if (!no_bpf) {
    transitions = std::make_shared<lpmon::exporter::TransitionCollector>(paths, publish_costs);
    collectors->add(transitions);
  }
  std::shared_ptr<lpmon::exporter::CallsCollector> calls;
  if (!no_bpf && !no_calls) {
    calls = std::make_shared<lpmon::exporter::CallsCollector>(
        paths, publish_costs, *lpmon::bpf::timing_of_mode(calls_mode, sample_every));
    collectors->add(calls);
  }

  // Capabilities are per thread and inherited. The thread that attaches probes to patches
  // arriving later starts now and keeps what attaching needs; then this thread, before any
  // other exists, drops all but what serving needs, and every thread made from here on
  // starts without the rest.
  std::map<pid_t, std::uint64_t> allowed_by_thread;
  std::uint64_t kept = 0;
  bool bounding_dropped = false;
  try {
    if (calls && calls->observing()) {
      const pid_t attacher = calls->start([] {
        const auto dropped =
            lpmon::exporter::drop_capabilities(lpmon::exporter::attaching_capabilities());
        log(LogLevel::info, "call-probe thread: " + dropped.message);
      });
      allowed_by_thread[attacher] =
          lpmon::exporter::capability_mask(lpmon::exporter::attaching_capabilities());
    }
    const auto dropped = lpmon::exporter::drop_capabilities(
        lpmon::exporter::serving_capabilities(port_of(listen_address) < 1024));
    kept = dropped.kept;
    bounding_dropped = dropped.bounding_dropped;
    log(LogLevel::info, dropped.message);
  } catch (const std::exception& e) {
    log(LogLevel::error, e.what());
    return 1;
  }

  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    std::vector<std::string> options{
        "listening_ports",    civetweb_port(listen_address, web_config.tls.has_value()),
        "num_threads",        kWorkerThreads,
        "request_timeout_ms", kRequestTimeoutMs};
    if (web_config.tls) {
      // CivetWeb's ssl_protocol_version: 4 allows TLS 1.2 and later, 5 only TLS 1.3.
      options.insert(options.end(), {"ssl_certificate", pem, "ssl_protocol_version",
                                     web_config.tls->tls13_only ? "5" : "4"});
      if (web_config.tls->client_ca_file) {
        options.insert(options.end(), {"ssl_verify_peer", "yes", "ssl_ca_file",
                                       web_config.tls->client_ca_file->string()});
      }
    }
    exposer = std::make_unique<prometheus::Exposer>(options);
  } catch (const std::exception& e) {
    log(LogLevel::error, "cannot listen on " + listen_address + ": " + e.what() +
                             (web_config.tls ? " (TLS needs libssl.so: package libssl-dev)" : ""));
    return 1;
  }
  if (!pem.empty()) unlink(pem.c_str());
  pem.clear();

  exposer->RegisterCollectable(collectors, telemetry_path);
  if (!web_config.basic_auth_users.empty()) {
    auto auth = std::make_shared<lpmon::exporter::BasicAuth>(web_config.basic_auth_users);
    exposer->RegisterAuth(
        [auth](const std::string& user, const std::string& password) {
          return auth->check(user, password);
        },
        "lpmon-exporter", telemetry_path);
  }
  if (transitions) transitions->start();

  // Every thread, CivetWeb's included, must hold no more than what was kept: read back from
  // the kernel, not assumed.
  if (const auto problems =
          lpmon::exporter::threads_beyond(kept, bounding_dropped, allowed_by_thread);
      !problems.empty()) {
    for (const std::string& problem : problems) log(LogLevel::error, problem);
    log(LogLevel::error, "refusing to serve: dropping capabilities did not take in every thread");
    return 1;
  }
  if (!loopback_only(listen_address) && web_config.basic_auth_users.empty() && !web_config.tls) {
    log(LogLevel::warn, "serving " + listen_address +
                            " to every network without TLS or basic auth (--web.config.file)");
  }

  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  log(LogLevel::info, "lpmon-exporter " LPMON_VERSION " serving " + telemetry_path + " on " +
                          listen_address + (web_config.tls ? " (TLS)" : "") +
                          (web_config.basic_auth_users.empty() ? "" : " (basic auth)") +
                          "; every thread checked: no capability beyond those kept");
  while (!stop_requested) pause();
  log(LogLevel::info, "stopping");
  return 0;
}
