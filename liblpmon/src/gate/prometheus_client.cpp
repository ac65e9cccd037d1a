#include "lpmon/gate/prometheus_client.hpp"

#include <curl/curl.h>

#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>

#include "lpmon/gate/duration.hpp"

namespace lpmon::gate {
namespace {

using nlohmann::json;

// A query answer larger than this is refused rather than held in memory: a gate's queries
// aggregate, and a runaway one (a matrix over every series) should fail, not swap.
constexpr std::size_t kMaxBody = 32u << 20;

double sample_value(const json& pair) {
  // [ <unix time>, "<value>" ]; values are strings so that NaN and +Inf survive JSON.
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) {
    throw QueryError("Prometheus sent a sample that is not [time, \"value\"]: " + pair.dump());
  }
  const std::string& text = pair[1].get_ref<const std::string&>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) {
    throw QueryError("Prometheus sent a sample value that is not a number: \"" + text + "\"");
  }
  return value;
}

std::map<std::string, std::string> labels_of(const json& series) {
  std::map<std::string, std::string> labels;
  if (auto it = series.find("metric"); it != series.end() && it->is_object()) {
    for (const auto& [name, value] : it->items()) {
      if (value.is_string()) labels[name] = value.get<std::string>();
    }
  }
  return labels;
}

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > kMaxBody) return 0;  // curl reports a write error
  body->append(data, size * count);
  return size * count;
}

std::string form_escape(CURL* curl, const std::string& text) {
  char* escaped = curl_easy_escape(curl, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) throw QueryError("cannot URL-encode the query");
  std::string out = escaped;
  curl_free(escaped);
  return out;
}

}  // namespace

std::vector<double> QueryResult::values() const {
  std::vector<double> all;
  for (const Series& s : series) all.insert(all.end(), s.values.begin(), s.values.end());
  return all;
}

const char* to_string(QueryResult::Type type) {
  switch (type) {
    case QueryResult::Type::vector:
      return "vector";
    case QueryResult::Type::scalar:
      return "scalar";
    case QueryResult::Type::matrix:
      return "matrix";
  }
  return "?";
}

QueryResult parse_query_response(long http_status, std::string_view body) {
  json answer;
  try {
    answer = json::parse(body);
  } catch (const json::exception&) {
    std::string start(body.substr(0, 80));
    for (char& c : start) {
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    throw QueryError(
        "answered HTTP " + std::to_string(http_status) +
        " with something that is not Prometheus' API (is the URL Prometheus?): " + start);
  }
  if (!answer.is_object()) throw QueryError("answered JSON that is not an object");
  const std::string status = answer.value("status", "");
  if (status != "success" || http_status < 200 || http_status > 299) {
    std::string message = "answered HTTP " + std::to_string(http_status);
    if (answer.contains("errorType") && answer["errorType"].is_string()) {
      message += ": " + answer["errorType"].get<std::string>();
    }
    if (answer.contains("error") && answer["error"].is_string()) {
      message += ": " + answer["error"].get<std::string>();
    }
    if (status == "success") message += " (with \"status\": \"success\")";
    throw QueryError(message);
  }
  const json& data = answer.contains("data") ? answer["data"] : json();
  if (!data.is_object() || !data.contains("resultType") || !data["resultType"].is_string() ||
      !data.contains("result")) {
    throw QueryError("answered without data.resultType and data.result");
  }
  QueryResult result;
  if (auto it = answer.find("warnings"); it != answer.end() && it->is_array()) {
    for (const json& w : *it) {
      if (w.is_string()) result.warnings.push_back(w.get<std::string>());
    }
  }
  const std::string type = data["resultType"].get<std::string>();
  const json& items = data["result"];
  if (type == "scalar") {
    result.type = QueryResult::Type::scalar;
    result.series.push_back({{}, {sample_value(items)}});
  } else if (type == "vector" || type == "matrix") {
    if (!items.is_array()) throw QueryError("answered a " + type + " that is not a list");
    result.type = type == "vector" ? QueryResult::Type::vector : QueryResult::Type::matrix;
    for (const json& item : items) {
      if (!item.is_object()) throw QueryError("answered a " + type + " element that is no object");
      Series series{labels_of(item), {}};
      if (type == "vector") {
        if (!item.contains("value")) throw QueryError("answered a vector element without value");
        series.values.push_back(sample_value(item["value"]));
      } else {
        if (!item.contains("values") || !item["values"].is_array()) {
          throw QueryError("answered a matrix element without values");
        }
        for (const json& pair : item["values"]) series.values.push_back(sample_value(pair));
      }
      result.series.push_back(std::move(series));
    }
  } else {
    throw QueryError("answered a result of type '" + type +
                     "': conditions need numbers (vector, scalar or matrix)");
  }
  return result;
}

struct PrometheusClient::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

PrometheusClient::PrometheusClient(PrometheusOptions options)
    : options_(std::move(options)), handle_(std::make_unique<Handle>()) {
  if (!options_.url.starts_with("http://") && !options_.url.starts_with("https://")) {
    throw QueryError("'" + options_.url + "' is not an http:// or https:// URL");
  }
  while (options_.url.ends_with('/')) options_.url.pop_back();
  static std::once_flag curl_ready;
  std::call_once(curl_ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  handle_->curl = curl_easy_init();
  if (handle_->curl == nullptr) throw QueryError("cannot initialise libcurl");
}

PrometheusClient::~PrometheusClient() = default;

QueryResult PrometheusClient::query(const std::string& promql, std::chrono::milliseconds timeout) {
  CURL* curl = handle_->curl;
  curl_easy_reset(curl);
  const std::string endpoint = options_.url + "/api/v1/query";
  // POST, as Prometheus' own client does: long queries do not fit every proxy's URL limit.
  const std::string seconds = std::to_string((timeout.count() + 999) / 1000);
  const std::string form = "query=" + form_escape(curl, promql) + "&timeout=" + seconds + "s";
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, endpoint.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "lpmon-gate");
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  if (options_.user) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, options_.user->c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, options_.password.value_or("").c_str());
  }
  if (options_.ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file->c_str());
  if (options_.insecure_skip_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  const CURLcode code = curl_easy_perform(curl);
  const std::string at = "Prometheus at " + options_.url;
  if (code == CURLE_OPERATION_TIMEDOUT) {
    throw QueryError(at + " did not answer within " + format_duration(timeout));
  }
  if (code == CURLE_WRITE_ERROR && body.size() + CURL_MAX_WRITE_SIZE > kMaxBody) {
    throw QueryError(at + " answered more than " + std::to_string(kMaxBody >> 20) +
                     " MiB: aggregate the query");
  }
  if (code != CURLE_OK) {
    throw QueryError("cannot reach " + at + ": " + (error[0] ? error : curl_easy_strerror(code)));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status == 401 || status == 403) {
    throw QueryError(at + " answered HTTP " + std::to_string(status) +
                     ": check --prometheus-user and --prometheus-password-file");
  }
  try {
    return parse_query_response(status, body);
  } catch (const QueryError& e) {
    throw QueryError(at + " " + e.what());
  }
}

}  // namespace lpmon::gate
