#include "service/common/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace b24 {
namespace {

TEST(ConfigTest, DefaultsListenOnLoopback) {
  auto c = LoadConfig({}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:50051");
  EXPECT_FALSE(c->allow_http);
  EXPECT_FALSE(c->allow_loopback);
  EXPECT_EQ(c->store, "sqlite3://db=bitrix24-service.db");
}

TEST(ConfigTest, FileThenEnvironmentThenFlags) {
  std::string path = ::testing::TempDir() + "/b24.yaml";
  std::ofstream(path) << "listen: 0.0.0.0:1\n"
                         "log: {level: debug}\n"
                         "http:\n  connect_timeout: 2s\n"
                         "security:\n  allowed_hosts: [example.com, other.org]\n"
                         "webhooks:\n  crm: https://a.bitrix24.com/rest/1/x/\n"
                         "limits:\n  plan:\n    big.bitrix24.com: enterprise\n";
  auto c = LoadConfig({"--config=" + path, "--listen=127.0.0.1:7"},
                      {{"B24_HTTP_CONNECT_TIMEOUT", "3s"}, {"B24_WEBHOOK_SALES", "https://b.bitrix24.com/rest/2/y/"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:7");
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
  EXPECT_EQ(c->connect_timeout, absl::Seconds(3));
  EXPECT_EQ(c->allowed_hosts, (std::vector<std::string>{"example.com", "other.org"}));
  EXPECT_EQ(c->webhooks.at("crm"), "https://a.bitrix24.com/rest/1/x/");
  EXPECT_EQ(c->webhooks.at("sales"), "https://b.bitrix24.com/rest/2/y/");
  EXPECT_EQ(c->portal_plans.at("big.bitrix24.com"), "enterprise");
}

TEST(ConfigTest, UnknownKeysAndBadValuesNameTheirSource) {
  auto unknown = LoadConfig({"--lissten=1"}, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown configuration key 'lissten'"), std::string::npos);
  auto bad = LoadConfig({}, {{"B24_HTTP_CONNECT_TIMEOUT", "soon"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("B24_HTTP_CONNECT_TIMEOUT"), std::string::npos);
  auto column = LoadConfig({"--store.column.member_id=x; DROP TABLE t"}, {});
  EXPECT_FALSE(column.ok());
  auto missing_file = LoadConfig({"--config=/nonexistent/b24.yaml"}, {});
  ASSERT_FALSE(missing_file.ok());
  EXPECT_NE(missing_file.status().message().find("/nonexistent/b24.yaml"), std::string::npos);
  EXPECT_FALSE(LoadConfig({"--tls.cert_file=a.pem"}, {}).ok());
  EXPECT_FALSE(LoadConfig({"positional"}, {}).ok());
}

TEST(ConfigTest, Durations) {
  absl::Duration d;
  EXPECT_TRUE(ParseConfigDuration("500ms", &d));
  EXPECT_EQ(d, absl::Milliseconds(500));
  EXPECT_TRUE(ParseConfigDuration("2.5", &d));
  EXPECT_EQ(d, absl::Milliseconds(2500));
  EXPECT_FALSE(ParseConfigDuration("-1s", &d));
  EXPECT_FALSE(ParseConfigDuration("abc", &d));
}

TEST(ConfigTest, LimitsOnWhatPortalsAndCallersSend) {
  auto c = LoadConfig({"--http.max_response_bytes=16MiB", "--grpc.max_message_bytes=8M", "--http.max_json_depth=32",
                       "--http.min_attempt_time=20ms", "--oauth.failure_cooldown=1s"},
                      {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_response_bytes, 16 << 20);
  EXPECT_EQ(c->grpc_max_message_bytes, 8 << 20);
  EXPECT_EQ(c->max_json_depth, 32);
  EXPECT_EQ(c->min_attempt_time, absl::Milliseconds(20));
  EXPECT_EQ(c->refresh_failure_cooldown, absl::Seconds(1));
  EXPECT_TRUE(c->oauth_server.empty());  // unset: the portal's trusted server_endpoint, else Bitrix24's
  for (const char* bad : {"--http.max_response_bytes=lots", "--http.max_response_bytes=-1", "--grpc.max_message_bytes=1K",
                          "--http.max_json_depth=0", "--http.callback_threads=0"}) {
    EXPECT_FALSE(LoadConfig({bad}, {}).ok()) << bad;
  }
}

TEST(ConfigTest, EveryKeyIsDocumented) {
  std::ifstream in(std::string(B24_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  std::istringstream help(DescribeConfig());
  std::string line;
  int keys = 0;
  while (std::getline(help, line)) {
    if (line.rfind("  ", 0) != 0 || line.rfind("      ", 0) == 0) continue;
    std::string key = line.substr(2, line.find(' ', 2) - 2);
    ++keys;
    EXPECT_NE(doc.str().find("| `" + key + "` |"), std::string::npos) << key << " is missing in docs/configuration.md";
  }
  EXPECT_GT(keys, 40);
}

}  // namespace
}  // namespace b24
