// Config: every setting of bitrix24-service, read from a YAML file, then the
// environment, then command-line flags (later sources win).
//
// Config is made of the libraries' own option structs (leveldb's options.h
// style): each default is written once, in the library that uses it, and the
// table of keys below only says which key sets which field. `--help` and
// docs/configuration.md show the live defaults, printed from a
// default-constructed Config (a test compares the two).
//
// Each setting has one dotted key (e.g. "http.connect_timeout"). In the YAML
// file keys nest ("http: {connect_timeout: 5s}"); in the environment the key
// is upper-cased with '.' → '_' and prefixed "B24_" (B24_HTTP_CONNECT_TIMEOUT);
// as a flag it is "--http.connect_timeout=5s". Named webhooks are
// "webhooks.<name>: <url>" (env B24_WEBHOOK_<NAME>).
//
// Unknown keys and malformed values are errors naming the key and its source,
// so a typo never silently falls back to a default.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/app/store_health.h"
#include "service/auth/oauth.h"
#include "service/common/log.h"
#include "service/exec/executor.h"
#include "service/grpc/service_options.h"
#include "service/http/curl/curl_transport.h"
#include "service/metrics/metrics.h"
#include "service/rest/client.h"
#include "storage/store_options.h"

namespace b24 {

// The gRPC server itself.
struct ServerOptions {
  // gRPC listen address host:port.
  std::string listen = "127.0.0.1:50051";
  // PEM server certificate and key; TLS when both are set.
  std::string tls_cert_file, tls_key_file;
  // PEM CA bundle; when set, clients must present a certificate (mTLS).
  std::string tls_client_ca_file;
  // How long SIGTERM waits for in-flight calls.
  absl::Duration shutdown_grace = absl::Seconds(30);
  // After SIGTERM, how long health says NOT_SERVING while calls are still
  // accepted, before the drain: time for load balancers and readiness probes
  // to take the instance out.
  absl::Duration shutdown_delay = absl::ZeroDuration();
};

// Which hosts the gateway may call, and the secrets of its own.
struct SecurityOptions {
  // Host suffixes (match on '.', or exact): Bitrix24's cloud domains.
  std::vector<std::string> allowed_hosts = {
      "bitrix24.com", "bitrix24.ru", "bitrix24.de",     "bitrix24.es",     "bitrix24.eu", "bitrix24.fr",
      "bitrix24.it",  "bitrix24.pl", "bitrix24.uk",     "bitrix24.com.br", "bitrix24.in", "bitrix24.cn",
      "bitrix24.co",  "bitrix24.jp", "bitrix24.com.tr", "bitrix24.id",     "bitrix24.vn", "bitrix24.by",
      "bitrix24.kz",  "bitrix24.ua", "bitrix24.site",   "bitrix24.shop",   "bitrix.info", "bitrix24.tech"};
  // Plain http:// portals (tests, sandboxes).
  bool allow_http = false;
  // Loopback hosts and addresses (tests, the emulator).
  bool allow_loopback = false;
  // The environment variable holding the key that signs GetAll cursors.
  std::string cursor_key_env = "B24_CURSOR_KEY";
};

struct Config {
  ServerOptions server;
  LogOptions log;                               // log.*
  http::CurlOptions http;                       // http.*
  rest::RestClientOptions rest;                 // http.request_timeout, http.max_json_*, limits.detect_plan
  exec::ExecutorOptions limits;                 // limits.*, retry.*, http.min_attempt_time
  SecurityOptions security;                     // security.*
  auth::OAuthOptions oauth;                     // oauth.*
  storage::StoreOptions store;                  // store.*
  grpcapi::ServiceOptions grpc;                 // grpc.*
  metrics::MetricsOptions metrics;              // metrics.*
  app::StoreHealthOptions health;               // health.*
  std::map<std::string, std::string> webhooks;  // name → URL
};

// Loads the configuration: `args` are argv[1..] (flags --key=value, --config=PATH
// names the YAML file); `env` the process environment. Unknown keys → InvalidArgument.
absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

// The table of keys: key, environment variable, meaning and live default
// (for --help and docs/configuration.md).
std::string DescribeConfig();

// Parses durations like "500ms", "5s", "2m", "1h" or a bare number of seconds.
bool ParseConfigDuration(const std::string& text, absl::Duration* out);

}  // namespace b24
