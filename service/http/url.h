// Url: the parts of an absolute http(s) URL the gateway needs, and the host
// policy deciding which portals it may call.
//
// HostPolicy is the gateway's guard against becoming an open proxy: a request
// to a host outside the allowlist is refused before any connection is made.
// Loopback and plain http are refused unless configured (tests, sandboxes).
// Thread-safety: both types are immutable values.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace b24::http {

struct Url {
  std::string scheme;  // "http" or "https", lower case
  std::string host;    // lower case, without brackets for IPv6
  int port = 0;        // explicit port or the scheme's default
  std::string path;    // starts with '/', at least "/"
  std::string query;   // without '?'

  // scheme://host[:port] (port only when not the default).
  std::string Origin() const;
  // host[:port] (port only when not the default): how a portal is keyed.
  std::string HostPort() const;
};

// Parses an absolute http/https URL. Userinfo ("user@host") and fragments are rejected.
absl::StatusOr<Url> ParseUrl(const std::string& text);

class HostPolicy {
 public:
  // `allowed` entries match a host equal to the entry or ending in "." + entry.
  HostPolicy(std::vector<std::string> allowed, bool allow_http, bool allow_loopback);

  // OK, or INVALID_ARGUMENT (reason HOST_NOT_ALLOWED) saying what to configure.
  absl::Status Check(const Url& url) const;

  static bool IsLoopback(const std::string& host);

 private:
  std::vector<std::string> allowed_;
  bool allow_http_;
  bool allow_loopback_;
};

}  // namespace b24::http
