#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace lpmon::exporter {

// The web config file is wrong; the message names the file, the line and the field.
class WebConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The subset of Prometheus' web configuration file (exporter-toolkit's web.config.file) that
// lpmon-exporter supports, in the same shape, so one file serves both:
//
//   tls_server_config:
//     cert_file: server.crt          # both or neither
//     key_file: server.key
//     min_version: TLS12             # TLS12 (default) or TLS13
//     client_auth_type: NoClientCert # or RequireAndVerifyClientCert (needs client_ca_file)
//     client_ca_file: ca.crt
//   basic_auth_users:
//     prometheus: $2y$10$...         # bcrypt hashes, e.g. from htpasswd -nBC 10
struct WebConfig {
  struct Tls {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    bool tls13_only = false;
    std::optional<std::filesystem::path> client_ca_file;  // set: clients must present a cert
  };
  std::optional<Tls> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash

  // Parses and checks the file: unknown keys, missing or unreadable files, unsupported
  // values and hashes that are not bcrypt are refused at start.
  static WebConfig load(const std::filesystem::path& file);
};

// Checks basic-auth credentials against bcrypt hashes. A bcrypt check costs milliseconds by
// design, so credentials that passed are remembered (a few, in memory) and a scrape every
// few seconds does not pay it each time. The bcrypt work runs outside any lock (checks on
// other connections go on meanwhile), and an unknown user costs one bcrypt check too, as a
// known one with a wrong password does: the time of an answer does not tell which users exist.
class BasicAuth {
 public:
  // Hashes a password with a bcrypt hash's salt and cost, as crypt(3); nullopt on error.
  using Hasher = std::function<std::optional<std::string>(const std::string& password,
                                                          const std::string& hash)>;
  explicit BasicAuth(std::map<std::string, std::string> users, Hasher hasher = bcrypt);
  bool check(const std::string& user, const std::string& password);

  static std::optional<std::string> bcrypt(const std::string& password, const std::string& hash);

 private:
  std::map<std::string, std::string> users_;
  Hasher hasher_;
  std::mutex mutex_;                          // guards verified_ only
  std::unordered_set<std::string> verified_;  // user '\0' password
};

}  // namespace lpmon::exporter
