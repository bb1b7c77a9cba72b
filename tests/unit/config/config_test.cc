#include "service/config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace b24 {
namespace {

TEST(ConfigTest, DefaultsListenOnLoopback) {
  auto c = LoadConfig({}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.listen, "127.0.0.1:50051");
  EXPECT_FALSE(c->security.allow_http);
  EXPECT_FALSE(c->security.allow_loopback);
  EXPECT_EQ(c->store.connection, "sqlite3://db=bitrix24-service.db");
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
  EXPECT_EQ(c->server.listen, "127.0.0.1:7");
  EXPECT_EQ(c->log.level, LogLevel::kDebug);
  EXPECT_EQ(c->http.connect_timeout, absl::Seconds(3));
  EXPECT_EQ(c->security.allowed_hosts, (std::vector<std::string>{"example.com", "other.org"}));
  EXPECT_EQ(c->webhooks.at("crm"), "https://a.bitrix24.com/rest/1/x/");
  EXPECT_EQ(c->webhooks.at("sales"), "https://b.bitrix24.com/rest/2/y/");
  EXPECT_EQ(c->limits.plans.at("big.bitrix24.com"), exec::Plan::kEnterprise);
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
  EXPECT_EQ(c->http.max_response_bytes, 16u << 20);
  EXPECT_EQ(c->grpc.max_message_bytes, 8u << 20);
  EXPECT_EQ(c->rest.json.max_depth, 32u);
  EXPECT_EQ(c->limits.retry.min_attempt_time, absl::Milliseconds(20));
  EXPECT_EQ(c->oauth.failure_cooldown, absl::Seconds(1));
  EXPECT_TRUE(c->oauth.token_url.empty());  // unset: the portal's trusted server_endpoint, else Bitrix24's
  for (const char* bad : {"--http.max_response_bytes=lots", "--http.max_response_bytes=-1",
                          "--grpc.max_message_bytes=1K", "--http.max_json_depth=0", "--http.callback_threads=0"}) {
    EXPECT_FALSE(LoadConfig({bad}, {}).ok()) << bad;
  }
}

TEST(ConfigTest, TheDocsShowEveryKeyWithItsLiveDefault) {
  // docs/configuration.md's table is --help's list: same keys, same variables,
  // same text and defaults (printed from a default-constructed Config).
  std::ifstream in(std::string(B24_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  std::istringstream help(DescribeConfig());
  std::string line, next;
  int keys = 0;
  while (std::getline(help, line)) {
    size_t env = line.find("  (env ");
    if (line.rfind("  ", 0) != 0 || env == std::string::npos) continue;
    ASSERT_TRUE(std::getline(help, next));
    std::string key = line.substr(2, env - 2);
    std::string var = line.substr(env + 7, line.size() - env - 8);
    std::string row = "| `" + key + "` | `" + var + "` | " + next.substr(6) + " |";
    ++keys;
    EXPECT_NE(doc.str().find(row), std::string::npos) << "docs/configuration.md lacks the row\n" << row;
  }
  EXPECT_GT(keys, 40);
  EXPECT_NE(DescribeConfig().find("http.connect_timeout  (env B24_HTTP_CONNECT_TIMEOUT)\n"
                                  "      TCP+TLS connect timeout to a portal (default 5s)"),
            std::string::npos);
}

}  // namespace
}  // namespace b24
