#include "service/config/config.h"

#include <yaml-cpp/yaml.h>

#include <cstring>
#include <functional>
#include <initializer_list>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace b24 {
namespace {

// One configuration key: how it sets its field and how the field is shown
// (--help prints the value of a default-constructed Config: the live default).
struct Key {
  const char* name;
  const char* help;
  std::function<bool(Config&, const std::string&)> set;
  std::function<std::string(const Config&)> show;
};

// Each helper takes an accessor `get` — a generic lambda returning a reference
// to the field — so the key table says once which key sets which field.
template <class Get>
Key Str(const char* name, const char* help, Get get) {
  return {name, help,
          [get](Config& c, const std::string& v) {
            get(c) = v;
            return true;
          },
          [get](const Config& c) { return get(c).empty() ? std::string("none") : get(c); }};
}
template <class Get>
Key Column(const char* name, const char* help, Get get) {
  return {name, help,
          [get](Config& c, const std::string& v) {
            if (v.empty()) return false;
            for (char ch : v) {
              if (!absl::ascii_isalnum(ch) && ch != '_') return false;  // identifiers only: they go into SQL
            }
            get(c) = v;
            return true;
          },
          [get](const Config& c) { return get(c); }};
}
template <class Get>
Key Int(const char* name, const char* help, Get get) {
  return {name, help, [get](Config& c, const std::string& v) { return absl::SimpleAtoi(v, &get(c)); },
          [get](const Config& c) { return absl::StrCat(get(c)); }};
}
template <class Get>
Key Dbl(const char* name, const char* help, Get get) {
  return {name, help, [get](Config& c, const std::string& v) { return absl::SimpleAtod(v, &get(c)) && get(c) >= 0; },
          [get](const Config& c) { return absl::StrCat(get(c)); }};
}
template <class Get>
Key Bool(const char* name, const char* help, Get get) {
  return {name, help, [get](Config& c, const std::string& v) { return absl::SimpleAtob(v, &get(c)); },
          [get](const Config& c) { return std::string(get(c) ? "true" : "false"); }};
}
template <class Get>
Key Dur(const char* name, const char* help, Get get) {
  return {name, help, [get](Config& c, const std::string& v) { return ParseConfigDuration(v, &get(c)); },
          [get](const Config& c) { return absl::FormatDuration(get(c)); }};
}
template <class Get>
Key List(const char* name, const char* help, Get get) {
  return {name, help,
          [get](Config& c, const std::string& v) {
            get(c) = absl::StrSplit(v, absl::ByAnyChar(", "), absl::SkipEmpty());
            return true;
          },
          [get](const Config& c) { return absl::StrJoin(get(c), ","); }};
}

// Bytes: a number with an optional KiB/MiB/GiB (or K/M/G) suffix.
bool ParseBytes(const std::string& text, int64_t* out) {
  std::string v(absl::StripAsciiWhitespace(text));
  int64_t unit = 1;
  for (auto [suffix, factor] : std::initializer_list<std::pair<const char*, int64_t>>{{"KiB", 1 << 10},
                                                                                      {"MiB", 1 << 20},
                                                                                      {"GiB", int64_t{1} << 30},
                                                                                      {"K", 1 << 10},
                                                                                      {"M", 1 << 20},
                                                                                      {"G", int64_t{1} << 30}}) {
    if (absl::EndsWith(v, suffix)) {
      v = v.substr(0, v.size() - strlen(suffix));
      unit = factor;
      break;
    }
  }
  int64_t n;
  if (!absl::SimpleAtoi(v, &n) || n < 0 || n > (int64_t{1} << 40) / unit) return false;
  *out = n * unit;
  return true;
}
std::string ShowBytes(int64_t n) {
  if (n > 0 && n % (1 << 20) == 0) return absl::StrCat(n >> 20, "MiB");
  if (n > 0 && n % (1 << 10) == 0) return absl::StrCat(n >> 10, "KiB");
  return absl::StrCat(n);
}
template <class Get>
Key Bytes(const char* name, const char* help, Get get) {
  return {name, help,
          [get](Config& c, const std::string& v) {
            int64_t n;
            if (!ParseBytes(v, &n)) return false;
            get(c) = static_cast<std::remove_reference_t<decltype(get(c))>>(n);
            return true;
          },
          [get](const Config& c) { return ShowBytes(static_cast<int64_t>(get(c))); }};
}

#define B24_FIELD(path) \
  [](auto& c) -> auto& { return c.path; }

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      Str("listen", "gRPC listen address host:port", B24_FIELD(server.listen)),
      Str("tls.cert_file", "PEM server certificate; enables TLS when set with tls.key_file; re-read on SIGHUP",
          B24_FIELD(server.tls_cert_file)),
      Str("tls.key_file", "PEM private key of tls.cert_file", B24_FIELD(server.tls_key_file)),
      Str("tls.client_ca_file", "PEM CA bundle; when set, clients must present a certificate (mTLS)",
          B24_FIELD(server.tls_client_ca_file)),
      Dur("shutdown_grace", "how long SIGTERM waits for in-flight calls", B24_FIELD(server.shutdown_grace)),
      Dur("shutdown_delay",
          "after SIGTERM, health is NOT_SERVING this long while calls are still accepted, before the drain "
          "(time for load balancers to notice)",
          B24_FIELD(server.shutdown_delay)),
      Key{"log.level", "debug, info, warning (recommended in production), error or off",
          [](Config& c, const std::string& v) { return ParseLogLevel(v, &c.log.level); },
          [](const Config& c) { return std::string(LogLevelName(c.log.level)); }},
      Key{"log.format", "text or json (one JSON object a line: time, level, message)",
          [](Config& c, const std::string& v) { return ParseLogFormat(v, &c.log.format); },
          [](const Config& c) { return std::string(LogFormatName(c.log.format)); }},
      Str("log.file", "write the log to this file, rotated, instead of stdout", B24_FIELD(log.file)),
      Bytes("log.max_size", "rotate log.file when it reaches this size, e.g. 100MiB", B24_FIELD(log.max_size)),
      Int("log.max_files", "rotated log files kept (for log.file=gw.log: gw.1.log is the newest)",
          B24_FIELD(log.max_files)),
      Int("log.queue", "log lines waiting for the logging thread; when full the oldest are dropped",
          B24_FIELD(log.queue_lines)),
      Dur("http.connect_timeout", "TCP+TLS connect timeout to a portal", B24_FIELD(http.connect_timeout)),
      Dur("http.request_timeout", "upper bound of one upstream request (callers' deadlines cut it shorter)",
          B24_FIELD(rest.request_timeout)),
      Str("http.ca_file", "CA bundle for verifying portals (none: the system store)", B24_FIELD(http.ca_file)),
      Str("http.user_agent", "User-Agent sent to portals", B24_FIELD(http.user_agent)),
      Bytes("http.max_response_bytes",
            "largest answer accepted from a portal after decompression, e.g. 64MiB; larger ones are aborted "
            "(RESOURCE_EXHAUSTED UPSTREAM_RESPONSE_TOO_LARGE)",
            B24_FIELD(http.max_response_bytes)),
      Int("http.max_json_depth", "deepest JSON nesting accepted from a portal", B24_FIELD(rest.json.max_depth)),
      Int("http.max_json_values", "most JSON values in one answer from a portal", B24_FIELD(rest.json.max_values)),
      Dur("http.min_attempt_time", "an upstream attempt starts only when this much of the caller's deadline is left",
          B24_FIELD(limits.retry.min_attempt_time)),
      Int("http.callback_threads", "threads that parse and convert upstream answers", B24_FIELD(http.callback_threads)),
      Bytes("grpc.max_message_bytes",
            "largest gRPC message sent or received, e.g. 4MiB (gRPC's default receive limit); larger results are "
            "RESOURCE_EXHAUSTED RESULT_TOO_LARGE",
            B24_FIELD(grpc.max_message_bytes)),
      List("security.allowed_hosts", "comma list of host suffixes the gateway may call (Bitrix24 cloud domains)",
           B24_FIELD(security.allowed_hosts)),
      Bool("security.allow_http", "allow plain http:// portals (for tests and sandboxes)",
           B24_FIELD(security.allow_http)),
      Bool("security.allow_loopback", "allow loopback hosts and addresses 127.0.0.0/8, ::1, localhost",
           B24_FIELD(security.allow_loopback)),
      Str("security.cursor_key_env",
          "environment variable holding the key that signs GetAll cursors (when unset, the store encryption key is "
          "used, else a random key: cursors then work only within one process)",
          B24_FIELD(security.cursor_key_env)),
      Str("oauth.server",
          "OAuth token endpoint; when set, every refresh goes here whatever server_endpoint a portal names (none: "
          "the portal's server_endpoint if it is a Bitrix24 OAuth host, else https://oauth.bitrix.info/oauth/token/)",
          B24_FIELD(oauth.token_url)),
      Dur("oauth.refresh_ahead", "refresh access tokens this long before they expire", B24_FIELD(oauth.refresh_ahead)),
      Dur("oauth.refresh_lease", "how long one replica may hold a portal's refresh before another takes over",
          B24_FIELD(oauth.lease)),
      Dur("oauth.failure_cooldown",
          "after a failed token refresh, callers of that portal fail fast with the same error this long",
          B24_FIELD(oauth.failure_cooldown)),
      Dur("health.store_interval", "how often the token store is pinged for the gRPC health status",
          B24_FIELD(health.interval)),
      Dur("health.store_timeout", "a ping unanswered this long makes the health NOT_SERVING",
          B24_FIELD(health.timeout)),
      Str("metrics.listen", "host:port of the Prometheus /metrics endpoint, e.g. 0.0.0.0:9090 (off when unset)",
          B24_FIELD(metrics.listen)),
      Int("metrics.max_portals", "portals with metric series of their own; the others are summed as portal=\"other\"",
          B24_FIELD(metrics.max_portals)),
      Str("store.url",
          "SOCI connection string, or none (webhooks only: no Install, no OAuth portals, no store in the health)",
          B24_FIELD(store.connection)),
      Int("store.pool_size", "database connections", B24_FIELD(store.pool_size)),
      Column("store.table", "token table name", B24_FIELD(store.columns.table)),
      Column("store.column.id", "primary key column", B24_FIELD(store.columns.id)),
      Column("store.column.member_id", "member_id column", B24_FIELD(store.columns.member_id)),
      Column("store.column.access_token", "access_token column", B24_FIELD(store.columns.access_token)),
      Column("store.column.expires_in", "expires_in column", B24_FIELD(store.columns.expires_in)),
      Column("store.column.application_token", "application_token column", B24_FIELD(store.columns.application_token)),
      Column("store.column.refresh_token", "refresh_token column", B24_FIELD(store.columns.refresh_token)),
      Column("store.column.domain", "domain column", B24_FIELD(store.columns.domain)),
      Column("store.column.client_endpoint", "client_endpoint column", B24_FIELD(store.columns.client_endpoint)),
      Column("store.column.client_id", "client_id column", B24_FIELD(store.columns.client_id)),
      Column("store.column.client_secret", "client_secret column", B24_FIELD(store.columns.client_secret)),
      Str("store.encryption_key_env", "environment variable holding the AES-256 key",
          B24_FIELD(store.encryption_key_env)),
      Dbl("limits.drain_per_second", "leaky bucket drain of a standard portal",
          B24_FIELD(limits.standard.drain_per_second)),
      Int("limits.burst", "leaky bucket size of a standard portal", B24_FIELD(limits.standard.burst)),
      Bool("limits.detect_plan", "ask app.info once per OAuth portal for its plan when limits.plan.<domain> is not set",
           B24_FIELD(rest.detect_plan)),
      Int("limits.max_in_flight_per_portal", "concurrent upstream requests per portal",
          B24_FIELD(limits.max_in_flight_per_portal)),
      Dbl("limits.operating_limit", "operating-time budget per method, seconds per 10 minutes",
          B24_FIELD(limits.operating_limit)),
      Bool("limits.handle_query_limit_exceeded", "wait and retry on QUERY_LIMIT_EXCEEDED",
           B24_FIELD(limits.retry.handle_query_limit_exceeded)),
      Bool("limits.handle_operation_time_limit", "wait for the reset on OPERATION_TIME_LIMIT",
           B24_FIELD(limits.retry.handle_operation_time_limit)),
      Int("retry.max_attempts", "attempts per upstream request, first included", B24_FIELD(limits.retry.max_attempts)),
      Dur("retry.base_delay", "first retry delay, doubled each time, jittered", B24_FIELD(limits.retry.base_delay)),
      Dur("retry.max_delay", "retry delay cap", B24_FIELD(limits.retry.max_delay)),
  };
  return keys;
}

#undef B24_FIELD

absl::Status Apply(Config& c, const std::string& key, const std::string& value, const std::string& source) {
  if (absl::StartsWith(key, "webhooks.")) {
    std::string name(key.substr(9));
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": empty webhook name in '", key, "'"));
    c.webhooks[name] = value;
    return absl::OkStatus();
  }
  if (absl::StartsWith(key, "limits.plan.")) {
    exec::Plan plan;
    if (!exec::ParsePlan(value, &plan)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", key, " must be 'standard' or 'enterprise', got '", value, "'"));
    }
    c.limits.plans[key.substr(12)] = plan;
    return absl::OkStatus();
  }
  for (const Key& k : Keys()) {
    if (key != k.name) continue;
    if (!k.set(c, value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": invalid value '", value, "' for ", key, " (", k.help, ")"));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": unknown configuration key '", key, "' (see docs/configuration.md)"));
}

void Flatten(const YAML::Node& node, const std::string& prefix, std::vector<std::pair<std::string, std::string>>* out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string k = kv.first.as<std::string>();
      Flatten(kv.second, prefix.empty() ? k : absl::StrCat(prefix, ".", k), out);
    }
  } else if (node.IsSequence()) {
    std::vector<std::string> items;
    for (const auto& item : node) items.push_back(item.as<std::string>());
    out->emplace_back(prefix, absl::StrJoin(items, ","));
  } else if (node.IsScalar()) {
    out->emplace_back(prefix, node.as<std::string>());
  } else if (node.IsNull()) {
    out->emplace_back(prefix, "");
  }
}

std::string EnvName(absl::string_view key) {
  return absl::StrCat("B24_", absl::AsciiStrToUpper(absl::StrReplaceAll(key, {{".", "_"}})));
}

}  // namespace

bool ParseConfigDuration(const std::string& text, absl::Duration* out) {
  double seconds;
  if (absl::SimpleAtod(text, &seconds)) {
    if (seconds < 0) return false;
    *out = absl::Seconds(seconds);
    return true;
  }
  return absl::ParseDuration(text, out) && *out >= absl::ZeroDuration();
}

absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  Config c;
  std::vector<std::pair<std::string, std::string>> flags;
  std::string file;
  if (auto it = env.find("B24_CONFIG"); it != env.end()) file = it->second;
  for (const std::string& a : args) {
    if (!absl::StartsWith(a, "--")) return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", a, "'"));
    std::string body = a.substr(2);
    size_t eq = body.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("flag '", a, "' needs a value: --key=value"));
    }
    std::string key = body.substr(0, eq), value = body.substr(eq + 1);
    if (key == "config")
      file = value;
    else
      flags.emplace_back(key, value);
  }
  if (!file.empty()) {
    std::vector<std::pair<std::string, std::string>> entries;
    try {
      YAML::Node root = YAML::LoadFile(file);
      if (!root.IsNull() && !root.IsMap()) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": the configuration must be a YAML mapping"));
      }
      Flatten(root, "", &entries);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read configuration file ", file, ": ", e.what()));
    }
    for (const auto& [k, v] : entries) {
      if (absl::Status s = Apply(c, k, v, file); !s.ok()) return s;
    }
  }
  for (const auto& [name, value] : env) {
    if (!absl::StartsWith(name, "B24_") || name == "B24_CONFIG" || name == c.store.encryption_key_env ||
        name == c.security.cursor_key_env) {
      continue;
    }
    if (absl::StartsWith(name, "B24_WEBHOOK_")) {
      std::string wh = absl::AsciiStrToLower(name.substr(12));
      if (absl::Status s = Apply(c, "webhooks." + wh, value, "environment " + name); !s.ok()) return s;
      continue;
    }
    bool known = false;
    for (const Key& k : Keys()) {
      if (EnvName(k.name) != name) continue;
      known = true;
      if (absl::Status s = Apply(c, k.name, value, "environment " + name); !s.ok()) return s;
    }
    // Other B24_* variables (e.g. test harness settings) are not ours to reject.
    (void)known;
  }
  for (const auto& [k, v] : flags) {
    if (absl::Status s = Apply(c, k, v, "flag --" + k); !s.ok()) return s;
  }
  if (c.store.pool_size < 1) return absl::InvalidArgumentError("store.pool_size must be at least 1");
  if (c.limits.retry.max_attempts < 1) return absl::InvalidArgumentError("retry.max_attempts must be at least 1");
  if (c.limits.max_in_flight_per_portal < 1) {
    return absl::InvalidArgumentError("limits.max_in_flight_per_portal must be at least 1");
  }
  if (c.limits.standard.burst < 1 || c.limits.standard.drain_per_second <= 0) {
    return absl::InvalidArgumentError("limits.burst must be ≥ 1 and limits.drain_per_second > 0");
  }
  if (c.rest.json.max_depth < 2 || c.rest.json.max_depth > 1000) {
    return absl::InvalidArgumentError("http.max_json_depth must be between 2 and 1000");
  }
  if (c.rest.json.max_values < 1) return absl::InvalidArgumentError("http.max_json_values must be at least 1");
  if (c.http.callback_threads < 1 || c.http.callback_threads > 256) {
    return absl::InvalidArgumentError("http.callback_threads must be between 1 and 256");
  }
  if (c.grpc.max_message_bytes < 64 * 1024 || c.grpc.max_message_bytes > (size_t{1} << 31) - 1) {
    return absl::InvalidArgumentError("grpc.max_message_bytes must be between 64KiB and 2GiB");
  }
  if (c.health.interval <= absl::ZeroDuration() || c.health.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("health.store_interval and health.store_timeout must be positive");
  }
  if (c.metrics.max_portals < 0) return absl::InvalidArgumentError("metrics.max_portals must be at least 0");
  if (!c.metrics.listen.empty() && c.metrics.listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics.listen must be host:port, e.g. 0.0.0.0:9090 (got \"", c.metrics.listen, "\")"));
  }
  if (c.server.tls_cert_file.empty() != c.server.tls_key_file.empty()) {
    return absl::InvalidArgumentError("tls.cert_file and tls.key_file must be set together");
  }
  return c;
}

std::string DescribeConfig() {
  const Config defaults;
  std::ostringstream out;
  for (const Key& k : Keys()) {
    out << "  " << k.name << "  (env " << EnvName(k.name) << ")\n      " << k.help << " (default " << k.show(defaults)
        << ")\n";
  }
  out << "  webhooks.<name>  (env B24_WEBHOOK_<NAME>)\n      incoming webhook URL callers address by name\n";
  out << "  limits.plan.<domain>\n      standard or enterprise: the portal's leaky bucket ("
      << defaults.limits.standard.drain_per_second << "/s," << defaults.limits.standard.burst << " or "
      << defaults.limits.enterprise.drain_per_second << "/s," << defaults.limits.enterprise.burst << ")\n";
  return out.str();
}

}  // namespace b24
