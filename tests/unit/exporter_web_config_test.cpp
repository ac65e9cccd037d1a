#include <crypt.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "web_config.hpp"

namespace lpmon::exporter {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class WebConfigTest : public ::testing::Test {
 protected:
  WebConfigTest()
      : dir_(fs::temp_directory_path() /
             ("lpmon-web-" + std::to_string(getpid()) + "-" + std::to_string(counter_++))) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "server.crt") << "cert";
    std::ofstream(dir_ / "server.key") << "key";
  }
  ~WebConfigTest() override { fs::remove_all(dir_); }

  fs::path write(const std::string& yaml) {
    const fs::path file = dir_ / "web.yml";
    std::ofstream(file) << yaml;
    return file;
  }
  std::string error_of(const std::string& yaml) {
    try {
      WebConfig::load(write(yaml));
    } catch (const WebConfigError& e) {
      return e.what();
    }
    return "";
  }

  static inline int counter_ = 0;
  fs::path dir_;
};

std::string bcrypt(const std::string& password) {
  crypt_data data{};
  // A fixed, valid bcrypt salt: the test needs a real hash, not a random one.
  return crypt_r(password.c_str(), "$2b$04$abcdefghijklmnopqrstuu", &data);
}

TEST_F(WebConfigTest, EmptyFileMeansPlainHttpWithoutAuth) {
  const WebConfig config = WebConfig::load(write(""));
  EXPECT_FALSE(config.tls.has_value());
  EXPECT_TRUE(config.basic_auth_users.empty());
}

TEST_F(WebConfigTest, TlsAndUsersWithPathsRelativeToTheFile) {
  const std::string hash = bcrypt("secret");
  const WebConfig config =
      WebConfig::load(write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                            "  min_version: TLS13\nbasic_auth_users:\n  prom: " +
                            hash + "\n"));
  ASSERT_TRUE(config.tls.has_value());
  EXPECT_EQ(config.tls->cert_file, dir_ / "server.crt");
  EXPECT_EQ(config.tls->key_file, dir_ / "server.key");
  EXPECT_TRUE(config.tls->tls13_only);
  EXPECT_FALSE(config.tls->client_ca_file.has_value());
  EXPECT_EQ(config.basic_auth_users.at("prom"), hash);
}

TEST_F(WebConfigTest, EveryBadFieldIsNamedWithItsLine) {
  EXPECT_THAT(error_of("tls_server_config:\n  cert_file: server.crt\n  keyfile: server.key\n"),
              HasSubstr("web.yml:3: unknown field tls_server_config.keyfile"));
  EXPECT_THAT(error_of("tls_server_config:\n  cert_file: server.crt\n"),
              HasSubstr("tls_server_config needs both cert_file and key_file"));
  EXPECT_THAT(error_of("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n"),
              HasSubstr("web.yml:2: tls_server_config.cert_file: cannot read"));
  EXPECT_THAT(error_of("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                       "  min_version: TLS10\n"),
              HasSubstr("web.yml:4: tls_server_config.min_version: 'TLS10' is not supported"));
  EXPECT_THAT(error_of("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                       "  client_auth_type: RequireAndVerifyClientCert\n"),
              HasSubstr("client_ca_file is required"));
  EXPECT_THAT(error_of("basic_auth_users:\n  prom: plaintext\n"),
              HasSubstr("web.yml:2: basic_auth_users.prom: not a bcrypt hash"));
  EXPECT_THAT(error_of("http_server_config:\n  http2: true\n"),
              HasSubstr("web.yml:1: unknown field http_server_config"));
  EXPECT_THAT(error_of("tls_server_config: [\n"), HasSubstr("web.yml:"));
}

TEST(BasicAuth, ChecksUserAndPasswordAgainstBcrypt) {
  BasicAuth auth({{"prom", bcrypt("secret")}});
  EXPECT_TRUE(auth.check("prom", "secret"));
  EXPECT_TRUE(auth.check("prom", "secret"));  // the remembered path
  EXPECT_FALSE(auth.check("prom", "Secret"));
  EXPECT_FALSE(auth.check("prom", ""));
  EXPECT_FALSE(auth.check("other", "secret"));
}

// A stand-in for bcrypt that counts its calls: each check must cost one hash, known user or not.
TEST(BasicAuth, UnknownUserCostsOneHashLikeAWrongPassword) {
  int hashes = 0;
  BasicAuth auth({{"prom", "$2y$10$known"}},
                 [&](const std::string& password, const std::string& hash) {
                   ++hashes;
                   return std::optional<std::string>(password == "right" ? hash : "$2y$10$x");
                 });
  EXPECT_FALSE(auth.check("nobody", "right"));
  EXPECT_EQ(hashes, 1) << "an unknown user must cost what a known one costs";
  EXPECT_FALSE(auth.check("prom", "wrong"));
  EXPECT_EQ(hashes, 2);
  EXPECT_TRUE(auth.check("prom", "right"));
  EXPECT_TRUE(auth.check("prom", "right"));  // remembered
  EXPECT_EQ(hashes, 3);
}

// Two checks at once: the first one's hash waits until the second one's has run. Were the
// hash under a lock, the second could never start: a hang (caught by the bound), not a time.
TEST(BasicAuth, HashesOfTwoConnectionsRunAtOnce) {
  std::promise<void> second_hashed;
  std::shared_future<void> second_done = second_hashed.get_future().share();
  std::atomic<int> calls{0};
  BasicAuth auth(
      {{"a", "$2y$10$a"}, {"b", "$2y$10$b"}}, [&](const std::string&, const std::string& hash) {
        if (calls++ == 0) {
          if (second_done.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
            return std::optional<std::string>();  // never reached: held under a lock
        } else {
          second_hashed.set_value();
        }
        return std::optional<std::string>(hash);
      });
  auto first = std::async(std::launch::async, [&] { return auth.check("a", "pw"); });
  while (calls.load() == 0) std::this_thread::yield();
  EXPECT_TRUE(auth.check("b", "pw"));
  EXPECT_TRUE(first.get()) << "the first check's hash did not see the second one run beside it";
}

}  // namespace
}  // namespace lpmon::exporter
