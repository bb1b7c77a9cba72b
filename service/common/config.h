// Config: every setting of bitrix24-service, read from a YAML file, then the
// environment, then command-line flags (later sources win).
//
// Each setting has one dotted key (e.g. "http.connect_timeout"). In the YAML
// file keys nest ("http: {connect_timeout: 5s}"); in the environment the key
// is upper-cased with '.' → '_' and prefixed "B24_" (B24_HTTP_CONNECT_TIMEOUT);
// as a flag it is "--http.connect_timeout=5s". Named webhooks are
// "webhooks.<name>: <url>" (env B24_WEBHOOK_<NAME>). docs/configuration.md
// documents every key; Describe() prints the same table.
//
// Unknown keys and malformed values are errors naming the key and its source,
// so a typo never silently falls back to a default.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/log.h"

namespace b24 {

struct StoreColumns {
  std::string table = "b24_portals";
  std::string id = "id";
  std::string member_id = "member_id";
  std::string access_token = "access_token";
  std::string expires_in = "expires_in";
  std::string application_token = "application_token";
  std::string refresh_token = "refresh_token";
  std::string domain = "domain";
  std::string client_endpoint = "client_endpoint";
  std::string client_id = "client_id";
  std::string client_secret = "client_secret";
};

struct Config {
  // Server.
  std::string listen = "127.0.0.1:50051";
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
  absl::Duration shutdown_grace = absl::Seconds(30);
  LogLevel log_level = LogLevel::kInfo;
  // Upstream HTTP.
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(70);
  std::string ca_file;
  std::string user_agent = "bitrix24-service/0.1";
  int64_t max_response_bytes = 64 << 20;       // decompressed, per answer
  int max_json_depth = 64;
  int64_t max_json_values = 4'000'000;
  absl::Duration min_attempt_time = absl::Milliseconds(50);
  int callback_threads = 4;
  // gRPC.
  int64_t grpc_max_message_bytes = 4 << 20;
  // Which hosts the gateway may call (suffix match on '.', or exact).
  std::vector<std::string> allowed_hosts = {
      "bitrix24.com", "bitrix24.ru", "bitrix24.de", "bitrix24.es", "bitrix24.eu", "bitrix24.fr",
      "bitrix24.it", "bitrix24.pl", "bitrix24.uk", "bitrix24.com.br", "bitrix24.in", "bitrix24.cn",
      "bitrix24.co", "bitrix24.jp", "bitrix24.com.tr", "bitrix24.id", "bitrix24.vn", "bitrix24.by",
      "bitrix24.kz", "bitrix24.ua", "bitrix24.site", "bitrix24.shop", "bitrix.info", "bitrix24.tech"};
  bool allow_http = false;
  bool allow_loopback = false;
  // Named webhooks: name → URL.
  std::map<std::string, std::string> webhooks;
  // OAuth.
  std::string oauth_server;  // "" = Bitrix24's, or a trusted server_endpoint of the portal
  absl::Duration refresh_ahead = absl::Minutes(5);
  absl::Duration refresh_lease = absl::Seconds(30);
  absl::Duration refresh_failure_cooldown = absl::Seconds(5);
  // GetAll cursors are signed with the key in this environment variable.
  std::string cursor_key_env = "B24_CURSOR_KEY";
  // Token store.
  std::string store = "sqlite3://db=bitrix24-service.db";
  int store_pool_size = 4;
  StoreColumns columns;
  std::string encryption_key_env = "B24_ENCRYPTION_KEY";
  // Executor.
  double rate_drain_per_second = 2;
  int rate_burst = 50;
  std::map<std::string, std::string> portal_plans;  // domain → "standard"|"enterprise"
  bool detect_plan = true;
  int max_in_flight_per_portal = 8;
  double operating_limit_seconds = 480;
  bool handle_query_limit_exceeded = true;
  bool handle_operation_time_limit = true;
  int max_attempts = 4;
  absl::Duration retry_base_delay = absl::Milliseconds(500);
  absl::Duration retry_max_delay = absl::Seconds(10);
};

// Loads the configuration: `args` are argv[1..] (flags --key=value, --config=PATH
// names the YAML file); `env` the process environment. Unknown keys → InvalidArgument.
absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env);

// The table of keys: key, default, meaning (for --help and docs).
std::string DescribeConfig();

// Parses durations like "500ms", "5s", "2m", "1h" or a bare number of seconds.
bool ParseConfigDuration(const std::string& text, absl::Duration* out);

}  // namespace b24
