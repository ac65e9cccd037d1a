#include <arpa/inet.h>
#include <civetweb.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "lpmon/gate/duration.hpp"
#include "lpmon/gate/prometheus_client.hpp"

namespace lpmon::gate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

std::string query_error(long status, const std::string& body) {
  try {
    parse_query_response(status, body);
  } catch (const QueryError& e) {
    return e.what();
  }
  return "";
}

TEST(ParseQueryResponse, Vector) {
  const QueryResult r = parse_query_response(200, R"({"status":"success","data":{
    "resultType":"vector","result":[
      {"metric":{"__name__":"up","instance":"a:9812"},"value":[1700000000.5,"1"]},
      {"metric":{"instance":"b:9812"},"value":[1700000000.5,"NaN"]},
      {"metric":{},"value":[1700000000.5,"+Inf"]}]}})");
  EXPECT_EQ(r.type, QueryResult::Type::vector);
  ASSERT_EQ(r.series.size(), 3u);
  EXPECT_EQ(r.series[0].labels.at("instance"), "a:9812");
  EXPECT_EQ(r.series[0].labels.at("__name__"), "up");
  const std::vector<double> values = r.values();
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], 1);
  EXPECT_TRUE(std::isnan(values[1]));
  EXPECT_TRUE(std::isinf(values[2]));
}

TEST(ParseQueryResponse, ScalarAndEmptyVector) {
  const QueryResult scalar = parse_query_response(
      200, R"({"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.25"]}})");
  EXPECT_EQ(scalar.type, QueryResult::Type::scalar);
  EXPECT_THAT(scalar.values(), ElementsAre(0.25));
  const QueryResult empty = parse_query_response(
      200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  EXPECT_TRUE(empty.values().empty());
}

TEST(ParseQueryResponse, MatrixFlattensSeriesBySeries) {
  const QueryResult r = parse_query_response(200, R"({"status":"success","data":{
    "resultType":"matrix","result":[
      {"metric":{"instance":"a"},"values":[[1,"0"],[2,"1"]]},
      {"metric":{"instance":"b"},"values":[[1,"5"]]}]},
    "warnings":["results truncated"]})");
  EXPECT_EQ(r.type, QueryResult::Type::matrix);
  EXPECT_THAT(r.values(), ElementsAre(0, 1, 5));
  EXPECT_THAT(r.series[0].values, ElementsAre(0, 1));
  EXPECT_THAT(r.warnings, ElementsAre("results truncated"));
}

TEST(ParseQueryResponse, ErrorsSayWhatPrometheusSaid) {
  EXPECT_EQ(
      query_error(
          400,
          R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \")\""})"),
      "answered HTTP 400: bad_data: 1:5: parse error: unexpected \")\"");
  EXPECT_EQ(
      query_error(503, R"({"status":"error","errorType":"timeout","error":"query timed out"})"),
      "answered HTTP 503: timeout: query timed out");
  EXPECT_EQ(query_error(200, R"({"status":"error","error":"odd"})"), "answered HTTP 200: odd");
  EXPECT_EQ(query_error(502, "<html>\n<body>Bad Gateway</body></html>"),
            "answered HTTP 502 with something that is not Prometheus' API (is the URL "
            "Prometheus?): <html> <body>Bad Gateway</body></html>");
  EXPECT_EQ(
      query_error(200, R"({"status":"success","data":{"resultType":"string","result":[1,"x"]}})"),
      "answered a result of type 'string': conditions need numbers (vector, scalar or "
      "matrix)");
  EXPECT_THAT(
      query_error(
          200,
          R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"one"]}]}})"),
      HasSubstr("a sample value that is not a number: \"one\""));
  EXPECT_THAT(
      query_error(
          200, R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}})"),
      HasSubstr("a sample that is not [time, \"value\"]"));
  EXPECT_THAT(query_error(200, R"({"status":"success"})"),
              HasSubstr("without data.resultType and data.result"));
  EXPECT_THAT(query_error(200, "[]"), HasSubstr("not an object"));
}

// A loopback HTTP server (CivetWeb, on an ephemeral port) that records requests and answers
// with a canned status and body, or holds the answer until released, to make clients time out.
class FakeServer {
 public:
  FakeServer() {
    const char* options[] = {"listening_ports", "127.0.0.1:0", "num_threads", "2", nullptr};
    ctx_ = mg_start(nullptr, nullptr, options);
    if (ctx_ == nullptr) throw std::runtime_error("CivetWeb did not start");
    mg_set_request_handler(ctx_, "/", &FakeServer::handle, this);
    mg_server_port ports[1] = {};
    mg_get_server_ports(ctx_, 1, ports);
    url_ = "http://127.0.0.1:" + std::to_string(ports[0].port);
  }
  ~FakeServer() {
    release();
    mg_stop(ctx_);
  }

  const std::string& url() const { return url_; }
  void answer(int status, std::string body) {
    std::lock_guard lock(mutex_);
    status_ = status;
    body_ = std::move(body);
  }
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    released_.notify_all();
  }

  struct Request {
    std::string method, uri, body, authorization;
  };
  Request last() {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  static int handle(mg_connection* connection, void* self_ptr) {
    auto* self = static_cast<FakeServer*>(self_ptr);
    const mg_request_info* info = mg_get_request_info(connection);
    Request request{info->request_method, info->local_uri, "", ""};
    if (const char* auth = mg_get_header(connection, "Authorization")) request.authorization = auth;
    char buffer[4096];
    for (int n; (n = mg_read(connection, buffer, sizeof buffer)) > 0;)
      request.body.append(buffer, n);
    std::unique_lock lock(self->mutex_);
    self->last_ = request;
    self->released_.wait_for(lock, 10s, [self] { return !self->held_; });
    mg_printf(connection,
              "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n%s",
              self->status_, self->body_.size(), self->body_.c_str());
    return self->status_;
  }

  mg_context* ctx_ = nullptr;
  std::string url_;
  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
  int status_ = 200;
  std::string body_;
  Request last_;
};

const std::string kOne =
    R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"lpmon"},"value":[1,"1"]}]}})";

// One server for all the client's tests: stopping CivetWeb takes a poll period (2 s).
class PrometheusClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new FakeServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static FakeServer* server_;
};
FakeServer* PrometheusClientTest::server_ = nullptr;

std::string client_error(PrometheusClient& client, Duration timeout = 5s) {
  try {
    client.query("up", timeout);
  } catch (const QueryError& e) {
    return e.what();
  }
  return "";
}

TEST_F(PrometheusClientTest, PostsTheQueryToTheApiUnderTheUrlsPath) {
  FakeServer& server = *server_;
  server.answer(200, kOne);
  PrometheusClient client(
      {server.url() + "/prom/", std::nullopt, std::nullopt, std::nullopt, false});

  const QueryResult r = client.query("sum(up{job=\"lpmon\"}) > 0 & 1", 30s);

  EXPECT_THAT(r.values(), ElementsAre(1));
  EXPECT_EQ(r.series[0].labels.at("job"), "lpmon");
  const FakeServer::Request request = server.last();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.uri, "/prom/api/v1/query");
  EXPECT_EQ(request.body,
            "query=sum%28up%7Bjob%3D%22lpmon%22%7D%29%20%3E%200%20%26%201&timeout=30s");
  EXPECT_EQ(request.authorization, "");
}

TEST_F(PrometheusClientTest, SendsBasicAuth) {
  FakeServer& server = *server_;
  server.answer(200, kOne);
  PrometheusClient client({server.url(), "gate", "s3cret", std::nullopt, false});
  client.query("up", 5s);
  EXPECT_EQ(server.last().authorization, "Basic Z2F0ZTpzM2NyZXQ=");

  server.answer(401, "Unauthorized");
  EXPECT_EQ(client_error(client), "Prometheus at " + server.url() +
                                      " answered HTTP 401: check --prometheus-user and "
                                      "--prometheus-password-file");
}

TEST_F(PrometheusClientTest, HttpAndPrometheusErrors) {
  FakeServer& server = *server_;
  PrometheusClient client({server.url(), std::nullopt, std::nullopt, std::nullopt, false});
  server.answer(
      422,
      R"({"status":"error","errorType":"execution","error":"many-to-many matching not allowed"})");
  EXPECT_EQ(client_error(client), "Prometheus at " + server.url() +
                                      " answered HTTP 422: execution: many-to-many matching not "
                                      "allowed");
  server.answer(404, "404 page not found");
  EXPECT_THAT(client_error(client), HasSubstr("answered HTTP 404 with something that is not"));
}

TEST_F(PrometheusClientTest, TimesOut) {
  FakeServer& server = *server_;
  server.answer(200, kOne);
  server.hold();
  PrometheusClient client({server.url(), std::nullopt, std::nullopt, std::nullopt, false});
  EXPECT_EQ(client_error(client, 200ms),
            "Prometheus at " + server.url() + " did not answer within 200ms");
  server.release();
}

TEST(PrometheusClient, ConnectionRefused) {
  // A port that was just free: bind, read it, close.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  PrometheusClient client({url, std::nullopt, std::nullopt, std::nullopt, false});
  EXPECT_THAT(client_error(client), StartsWith("cannot reach Prometheus at " + url + ": "));
}

TEST(PrometheusClient, OnlyHttpAndHttps) {
  EXPECT_THROW(
      PrometheusClient({"file:///etc/passwd", std::nullopt, std::nullopt, std::nullopt, false}),
      QueryError);
  EXPECT_THROW(
      PrometheusClient({"prometheus:9090", std::nullopt, std::nullopt, std::nullopt, false}),
      QueryError);
}

}  // namespace
}  // namespace lpmon::gate
