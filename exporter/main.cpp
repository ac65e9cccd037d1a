// lpmon-exporter: livepatch metrics for Prometheus.
#include <prometheus/exposer.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include "livepatch_collector.hpp"
#include "lpmon/kernel_paths.hpp"

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) {
  stop_requested = 1;
}

// Prometheus writes ":9812" for "every address"; CivetWeb wants a port or "address:port".
std::string civetweb_address(const std::string& listen) {
  return listen.starts_with(':') ? "0.0.0.0" + listen : listen;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lpmon-exporter: livepatch state of this host for Prometheus", "lpmon-exporter"};
  app.set_version_flag("--version", "lpmon-exporter " LPMON_VERSION);
  std::string listen_address = ":9812";
  std::string telemetry_path = "/metrics";
  lpmon::KernelPaths paths;
  app.add_option("--web.listen-address", listen_address, "Address to listen on")
      ->capture_default_str();
  app.add_option("--web.telemetry-path", telemetry_path, "Path under which to expose metrics")
      ->capture_default_str();
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

  auto collector = std::make_shared<lpmon::exporter::LivepatchCollector>(paths, LPMON_VERSION);
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(civetweb_address(listen_address));
  } catch (const std::exception& e) {
    std::cerr << "lpmon-exporter: cannot listen on " << listen_address << ": " << e.what() << '\n';
    return 1;
  }
  exposer->RegisterCollectable(collector, telemetry_path);

  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  std::cerr << "lpmon-exporter " LPMON_VERSION ": serving " << telemetry_path << " on "
            << listen_address << '\n';
  while (!stop_requested) pause();
  std::cerr << "lpmon-exporter: stopping\n";
  return 0;
}
