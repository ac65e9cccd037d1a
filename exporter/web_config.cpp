#include "web_config.hpp"

#include <crypt.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <set>

namespace lpmon::exporter {
namespace {

namespace fs = std::filesystem;

std::string where(const fs::path& file, const YAML::Node& node) {
  return file.string() + ":" + std::to_string(node.Mark().line + 1);
}

void reject_unknown_keys(const fs::path& file, const YAML::Node& map, const std::string& section,
                         const std::set<std::string>& known) {
  for (const auto& entry : map) {
    const auto key = entry.first.as<std::string>();
    if (known.contains(key)) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw WebConfigError(where(file, entry.first) + ": unknown field " + section + key +
                         " (lpmon-exporter supports: " + list + ")");
  }
}

std::string scalar(const fs::path& file, const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar())
    throw WebConfigError(where(file, node) + ": " + field + " must be a string");
  return node.as<std::string>();
}

// Relative paths are relative to the config file, as in Prometheus.
fs::path readable_file(const fs::path& config, const YAML::Node& node, const std::string& field) {
  fs::path path = scalar(config, node, field);
  if (path.is_relative()) path = config.parent_path() / path;
  if (access(path.c_str(), R_OK) != 0) {
    throw WebConfigError(where(config, node) + ": " + field + ": cannot read " + path.string());
  }
  return path;
}

bool is_bcrypt(const std::string& hash) {
  return hash.size() == 60 && hash[0] == '$' && hash[1] == '2' &&
         (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') && hash[3] == '$';
}

}  // namespace

WebConfig WebConfig::load(const fs::path& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    throw WebConfigError(file.string() + ": cannot read the web config file");
  } catch (const YAML::Exception& e) {
    throw WebConfigError(file.string() + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  WebConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) throw WebConfigError(file.string() + ": expected a mapping");
  reject_unknown_keys(file, root, "", {"tls_server_config", "basic_auth_users"});

  if (const YAML::Node tls = root["tls_server_config"]; tls && !tls.IsNull()) {
    if (!tls.IsMap())
      throw WebConfigError(where(file, tls) + ": tls_server_config: expected a mapping");
    reject_unknown_keys(
        file, tls, "tls_server_config.",
        {"cert_file", "key_file", "min_version", "client_auth_type", "client_ca_file"});
    if (!tls["cert_file"] || !tls["key_file"]) {
      throw WebConfigError(where(file, tls) +
                           ": tls_server_config needs both cert_file and key_file");
    }
    Tls t;
    t.cert_file = readable_file(file, tls["cert_file"], "tls_server_config.cert_file");
    t.key_file = readable_file(file, tls["key_file"], "tls_server_config.key_file");
    if (const YAML::Node v = tls["min_version"]) {
      const std::string version = scalar(file, v, "tls_server_config.min_version");
      if (version == "TLS13") {
        t.tls13_only = true;
      } else if (version != "TLS12") {
        throw WebConfigError(where(file, v) + ": tls_server_config.min_version: '" + version +
                             "' is not supported (TLS12 or TLS13)");
      }
    }
    std::string client_auth = "NoClientCert";
    if (const YAML::Node a = tls["client_auth_type"]) {
      client_auth = scalar(file, a, "tls_server_config.client_auth_type");
      if (client_auth != "NoClientCert" && client_auth != "RequireAndVerifyClientCert") {
        throw WebConfigError(where(file, a) + ": tls_server_config.client_auth_type: '" +
                             client_auth +
                             "' is not supported (NoClientCert or RequireAndVerifyClientCert)");
      }
    }
    if (client_auth == "RequireAndVerifyClientCert") {
      if (!tls["client_ca_file"]) {
        throw WebConfigError(where(file, tls) +
                             ": tls_server_config.client_ca_file is required with "
                             "RequireAndVerifyClientCert");
      }
      t.client_ca_file =
          readable_file(file, tls["client_ca_file"], "tls_server_config.client_ca_file");
    }
    config.tls = std::move(t);
  }

  if (const YAML::Node users = root["basic_auth_users"]; users && !users.IsNull()) {
    if (!users.IsMap())
      throw WebConfigError(where(file, users) + ": basic_auth_users: expected user: hash");
    for (const auto& entry : users) {
      const auto user = entry.first.as<std::string>();
      const auto hash = scalar(file, entry.second, "basic_auth_users." + user);
      if (!is_bcrypt(hash)) {
        throw WebConfigError(where(file, entry.second) + ": basic_auth_users." + user +
                             ": not a bcrypt hash (make one with htpasswd -nBC 10 " + user + ")");
      }
      config.basic_auth_users[user] = hash;
    }
  }
  return config;
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users, Hasher hasher)
    : users_(std::move(users)), hasher_(std::move(hasher)) {}

std::optional<std::string> BasicAuth::bcrypt(const std::string& password, const std::string& hash) {
  crypt_data data{};
  const char* hashed = crypt_r(password.c_str(), hash.c_str(), &data);
  // crypt_r fails with a '*'-prefixed string or NULL.
  if (!hashed || hashed[0] == '*') return std::nullopt;
  return std::string(hashed);
}

namespace {
// Compares in a time that depends on the lengths only.
bool same_bytes(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}
}  // namespace

bool BasicAuth::check(const std::string& user, const std::string& password) {
  if (users_.empty()) return false;
  const auto it = users_.find(user);
  const bool known = it != users_.end();
  const std::string key = user + '\0' + password;
  if (known) {
    std::lock_guard lock(mutex_);
    if (verified_.contains(key)) return true;
  }
  // An unknown user is checked against a known user's hash, for the same cost, and refused.
  const std::string& hash = known ? it->second : users_.begin()->second;
  const std::optional<std::string> hashed = hasher_(password, hash);
  if (!known || !hashed || !same_bytes(*hashed, hash)) return false;
  std::lock_guard lock(mutex_);
  // Bounded: only a handful of scrapers, and forgetting costs one bcrypt check.
  if (verified_.size() >= 64) verified_.clear();
  verified_.insert(key);
  return true;
}

}  // namespace lpmon::exporter
