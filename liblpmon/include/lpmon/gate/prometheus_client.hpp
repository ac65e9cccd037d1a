#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lpmon/gate/query.hpp"

namespace lpmon::gate {

struct PrometheusOptions {
  std::string url;  // http(s)://host:port[/prefix], as for promtool
  std::optional<std::string> user;
  std::optional<std::string> password;  // with user: HTTP basic auth
  std::optional<std::filesystem::path> ca_file;
  bool insecure_skip_verify = false;
};

// Prometheus' HTTP API (/api/v1/query) over libcurl. One connection is kept for all queries.
class PrometheusClient final : public QueryBackend {
 public:
  // Throws QueryError when the URL is not http(s).
  explicit PrometheusClient(PrometheusOptions options);
  ~PrometheusClient() override;
  PrometheusClient(const PrometheusClient&) = delete;
  PrometheusClient& operator=(const PrometheusClient&) = delete;

  QueryResult query(const std::string& promql, std::chrono::milliseconds timeout) override;

 private:
  struct Handle;
  PrometheusOptions options_;
  std::unique_ptr<Handle> handle_;
};

// Reads an answer of /api/v1/query: vector, scalar and matrix results; "status": "error" and
// HTTP errors become QueryError. Separate from the client so that tests can feed it bodies.
QueryResult parse_query_response(long http_status, std::string_view body);

}  // namespace lpmon::gate
