#include "service/common/config.h"

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

using Setter = std::function<bool(Config&, const std::string&)>;

struct Key {
  const char* name;
  const char* help;
  Setter set;
};

Setter Str(std::string Config::*field) {
  return [field](Config& c, const std::string& v) { c.*field = v; return true; };
}
Setter Column(std::string StoreColumns::*field) {
  return [field](Config& c, const std::string& v) {
    if (v.empty()) return false;
    for (char ch : v) {
      if (!absl::ascii_isalnum(ch) && ch != '_') return false;  // identifiers only: they go into SQL
    }
    c.columns.*field = v;
    return true;
  };
}
Setter Int(int Config::*field) {
  return [field](Config& c, const std::string& v) { return absl::SimpleAtoi(v, &(c.*field)); };
}
Setter Int64(int64_t Config::*field) {
  return [field](Config& c, const std::string& v) { return absl::SimpleAtoi(v, &(c.*field)); };
}
// Bytes: a number with an optional KiB/MiB/GiB (or K/M/G) suffix.
Setter Bytes(int64_t Config::*field) {
  return [field](Config& c, const std::string& text) {
    std::string v(absl::StripAsciiWhitespace(text));
    int64_t unit = 1;
    for (auto [suffix, factor] : std::initializer_list<std::pair<const char*, int64_t>>{
             {"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", int64_t{1} << 30}, {"K", 1 << 10}, {"M", 1 << 20},
             {"G", int64_t{1} << 30}}) {
      if (absl::EndsWith(v, suffix)) {
        v = v.substr(0, v.size() - strlen(suffix));
        unit = factor;
        break;
      }
    }
    int64_t n;
    if (!absl::SimpleAtoi(v, &n) || n < 0 || n > (int64_t{1} << 40) / unit) return false;
    c.*field = n * unit;
    return true;
  };
}
Setter Dbl(double Config::*field) {
  return [field](Config& c, const std::string& v) { return absl::SimpleAtod(v, &(c.*field)) && c.*field >= 0; };
}
Setter Bool(bool Config::*field) {
  return [field](Config& c, const std::string& v) { return absl::SimpleAtob(v, &(c.*field)); };
}
Setter Dur(absl::Duration Config::*field) {
  return [field](Config& c, const std::string& v) { return ParseConfigDuration(v, &(c.*field)); };
}
Setter List(std::vector<std::string> Config::*field) {
  return [field](Config& c, const std::string& v) {
    c.*field = absl::StrSplit(v, absl::ByAnyChar(", "), absl::SkipEmpty());
    return true;
  };
}

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      {"listen", "gRPC listen address host:port (default 127.0.0.1:50051)", Str(&Config::listen)},
      {"tls.cert_file", "PEM server certificate; enables TLS when set with tls.key_file", Str(&Config::tls_cert_file)},
      {"tls.key_file", "PEM private key of tls.cert_file", Str(&Config::tls_key_file)},
      {"tls.client_ca_file", "PEM CA bundle; when set, clients must present a certificate (mTLS)",
       Str(&Config::tls_client_ca_file)},
      {"shutdown_grace", "how long SIGTERM waits for in-flight calls (default 30s)", Dur(&Config::shutdown_grace)},
      {"log.level", "debug, info, warning, error or off (default info)",
       [](Config& c, const std::string& v) { return ParseLogLevel(v, &c.log_level); }},
      {"http.connect_timeout", "TCP+TLS connect timeout to a portal (default 5s)", Dur(&Config::connect_timeout)},
      {"http.request_timeout", "upper bound of one upstream request (default 70s; callers' deadlines cut it shorter)",
       Dur(&Config::request_timeout)},
      {"http.ca_file", "CA bundle for verifying portals (default: system store)", Str(&Config::ca_file)},
      {"http.user_agent", "User-Agent sent to portals", Str(&Config::user_agent)},
      {"http.max_response_bytes",
       "largest answer accepted from a portal after decompression, e.g. 64MiB; larger ones are aborted "
       "(RESOURCE_EXHAUSTED UPSTREAM_RESPONSE_TOO_LARGE) (default 64MiB)",
       Bytes(&Config::max_response_bytes)},
      {"http.max_json_depth", "deepest JSON nesting accepted from a portal (default 64)", Int(&Config::max_json_depth)},
      {"http.max_json_values", "most JSON values in one answer from a portal (default 4000000)",
       Int64(&Config::max_json_values)},
      {"http.min_attempt_time",
       "an upstream attempt starts only when this much of the caller's deadline is left (default 50ms)",
       Dur(&Config::min_attempt_time)},
      {"http.callback_threads", "threads that parse and convert upstream answers (default 4)",
       Int(&Config::callback_threads)},
      {"grpc.max_message_bytes",
       "largest gRPC message sent or received, e.g. 4MiB; larger results are RESOURCE_EXHAUSTED RESULT_TOO_LARGE "
       "(default 4MiB, gRPC's default receive limit)",
       Bytes(&Config::grpc_max_message_bytes)},
      {"security.allowed_hosts", "comma list of host suffixes the gateway may call (default: Bitrix24 cloud domains)",
       List(&Config::allowed_hosts)},
      {"security.allow_http", "allow plain http:// portals (default false; for tests and sandboxes)",
       Bool(&Config::allow_http)},
      {"security.allow_loopback", "allow loopback hosts 127.0.0.0/8, ::1, localhost (default false)",
       Bool(&Config::allow_loopback)},
      {"oauth.server",
       "OAuth token endpoint; when set, every refresh goes here whatever server_endpoint a portal names "
       "(default: the portal's server_endpoint if it is a Bitrix24 OAuth host, else "
       "https://oauth.bitrix.info/oauth/token/)",
       Str(&Config::oauth_server)},
      {"oauth.failure_cooldown",
       "after a failed token refresh, callers of that portal fail fast with the same error this long (default 5s)",
       Dur(&Config::refresh_failure_cooldown)},
      {"oauth.refresh_ahead", "refresh access tokens this long before they expire (default 5m)",
       Dur(&Config::refresh_ahead)},
      {"oauth.refresh_lease",
       "how long one replica may hold a portal's refresh before another takes over (default 30s)",
       Dur(&Config::refresh_lease)},
      {"security.cursor_key_env",
       "environment variable holding the key that signs GetAll cursors (default B24_CURSOR_KEY; when unset, the "
       "store encryption key is used, else a random key: cursors then work only within one process)",
       Str(&Config::cursor_key_env)},
      {"store.url", "SOCI connection string (default sqlite3://db=bitrix24-service.db)", Str(&Config::store)},
      {"store.pool_size", "database connections (default 4)", Int(&Config::store_pool_size)},
      {"store.table", "token table name", Column(&StoreColumns::table)},
      {"store.column.id", "primary key column", Column(&StoreColumns::id)},
      {"store.column.member_id", "member_id column", Column(&StoreColumns::member_id)},
      {"store.column.access_token", "access_token column", Column(&StoreColumns::access_token)},
      {"store.column.expires_in", "expires_in column", Column(&StoreColumns::expires_in)},
      {"store.column.application_token", "application_token column", Column(&StoreColumns::application_token)},
      {"store.column.refresh_token", "refresh_token column", Column(&StoreColumns::refresh_token)},
      {"store.column.domain", "domain column", Column(&StoreColumns::domain)},
      {"store.column.client_endpoint", "client_endpoint column", Column(&StoreColumns::client_endpoint)},
      {"store.column.client_id", "client_id column", Column(&StoreColumns::client_id)},
      {"store.column.client_secret", "client_secret column", Column(&StoreColumns::client_secret)},
      {"store.encryption_key_env", "environment variable holding the AES-256 key (default B24_ENCRYPTION_KEY)",
       Str(&Config::encryption_key_env)},
      {"limits.drain_per_second", "leaky bucket drain of a standard portal (default 2)",
       Dbl(&Config::rate_drain_per_second)},
      {"limits.burst", "leaky bucket size of a standard portal (default 50)", Int(&Config::rate_burst)},
      {"limits.detect_plan",
       "ask app.info once per OAuth portal for its plan when limits.plan.<domain> is not set (default true)",
       Bool(&Config::detect_plan)},
      {"limits.max_in_flight_per_portal", "concurrent upstream requests per portal (default 8)",
       Int(&Config::max_in_flight_per_portal)},
      {"limits.operating_limit", "operating-time budget per method, seconds per 10 minutes (default 480)",
       Dbl(&Config::operating_limit_seconds)},
      {"limits.handle_query_limit_exceeded", "wait and retry on QUERY_LIMIT_EXCEEDED (default true)",
       Bool(&Config::handle_query_limit_exceeded)},
      {"limits.handle_operation_time_limit", "wait for the reset on OPERATION_TIME_LIMIT (default true)",
       Bool(&Config::handle_operation_time_limit)},
      {"retry.max_attempts", "attempts per upstream request, first included (default 4)", Int(&Config::max_attempts)},
      {"retry.base_delay", "first retry delay, doubled each time, jittered (default 500ms)",
       Dur(&Config::retry_base_delay)},
      {"retry.max_delay", "retry delay cap (default 10s)", Dur(&Config::retry_max_delay)},
  };
  return keys;
}

absl::Status Apply(Config& c, const std::string& key, const std::string& value, const std::string& source) {
  if (absl::StartsWith(key, "webhooks.")) {
    std::string name(key.substr(9));
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": empty webhook name in '", key, "'"));
    c.webhooks[name] = value;
    return absl::OkStatus();
  }
  if (absl::StartsWith(key, "limits.plan.")) {
    std::string plan = absl::AsciiStrToLower(value);
    if (plan != "standard" && plan != "enterprise") {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", key, " must be 'standard' or 'enterprise', got '", value, "'"));
    }
    c.portal_plans[key.substr(12)] = plan;
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

absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env) {
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
    if (key == "config") file = value;
    else flags.emplace_back(key, value);
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
    if (!absl::StartsWith(name, "B24_") || name == "B24_CONFIG" || name == c.encryption_key_env ||
        name == c.cursor_key_env) {
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
  if (c.store_pool_size < 1) return absl::InvalidArgumentError("store.pool_size must be at least 1");
  if (c.max_attempts < 1) return absl::InvalidArgumentError("retry.max_attempts must be at least 1");
  if (c.max_in_flight_per_portal < 1) {
    return absl::InvalidArgumentError("limits.max_in_flight_per_portal must be at least 1");
  }
  if (c.rate_burst < 1 || c.rate_drain_per_second <= 0) {
    return absl::InvalidArgumentError("limits.burst must be ≥ 1 and limits.drain_per_second > 0");
  }
  if (c.max_json_depth < 2 || c.max_json_depth > 1000) {
    return absl::InvalidArgumentError("http.max_json_depth must be between 2 and 1000");
  }
  if (c.max_json_values < 1) return absl::InvalidArgumentError("http.max_json_values must be at least 1");
  if (c.callback_threads < 1 || c.callback_threads > 256) {
    return absl::InvalidArgumentError("http.callback_threads must be between 1 and 256");
  }
  if (c.grpc_max_message_bytes < 64 * 1024 || c.grpc_max_message_bytes > (int64_t{1} << 31) - 1) {
    return absl::InvalidArgumentError("grpc.max_message_bytes must be between 64KiB and 2GiB");
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return absl::InvalidArgumentError("tls.cert_file and tls.key_file must be set together");
  }
  return c;
}

std::string DescribeConfig() {
  std::ostringstream out;
  for (const Key& k : Keys()) out << "  " << k.name << "  (env " << EnvName(k.name) << ")\n      " << k.help << "\n";
  out << "  webhooks.<name>  (env B24_WEBHOOK_<NAME>)\n      incoming webhook URL callers address by name\n";
  out << "  limits.plan.<domain>  standard or enterprise: the portal's leaky bucket (2/s,50 or 5/s,250)\n";
  return out.str();
}

}  // namespace b24
