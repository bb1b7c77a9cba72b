#include "service/http/url.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/status.h"

namespace b24::http {

std::string Url::Origin() const {
  bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  std::string h = absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host;
  return default_port ? absl::StrCat(scheme, "://", h) : absl::StrCat(scheme, "://", h, ":", port);
}

std::string Url::HostPort() const {
  bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return default_port ? host : absl::StrCat(host, ":", port);
}

absl::StatusOr<Url> ParseUrl(const std::string& text) {
  auto bad = [&](absl::string_view why) { return absl::InvalidArgumentError(absl::StrCat("invalid URL: ", why)); };
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return bad("URLs may not contain spaces or control characters");
  }
  size_t sep = text.find("://");
  if (sep == std::string::npos) return bad("expected scheme://host/...");
  Url u;
  u.scheme = absl::AsciiStrToLower(text.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") return bad("only http and https are supported");
  size_t rest = sep + 3;
  size_t end = text.find_first_of("/?#", rest);
  std::string authority = text.substr(rest, end == std::string::npos ? std::string::npos : end - rest);
  if (authority.find('@') != std::string::npos) return bad("user information in URLs is not accepted");
  std::string port_text;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == std::string::npos) return bad("unterminated IPv6 address");
    u.host = authority.substr(1, close - 1);
    if (u.host.empty() || u.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      return bad("invalid IPv6 address");
    }
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("garbage after IPv6 address");
      port_text = authority.substr(close + 2);
    }
  } else {
    if (std::count(authority.begin(), authority.end(), ':') > 1) {
      return bad("an IPv6 address must be written in brackets: http://[::1]:8080/");
    }
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  u.host = absl::AsciiStrToLower(u.host);
  if (u.host.empty()) return bad("missing host");
  for (char c : u.host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_') return bad("invalid host name");
  }
  for (char c : text.substr(end == std::string::npos ? text.size() : end)) {
    // RFC 3986 path/query characters; anything else must be percent-encoded.
    if (!absl::ascii_isalnum(c) && absl::string_view("-._~:/?#[]@!$&'()*+,;=%").find(c) == absl::string_view::npos) {
      return bad("the path holds a character that must be percent-encoded");
    }
  }
  u.port = u.scheme == "https" ? 443 : 80;
  if (!port_text.empty() && (!absl::SimpleAtoi(port_text, &u.port) || u.port < 1 || u.port > 65535)) {
    return bad("invalid port");
  }
  if (end == std::string::npos) {
    u.path = "/";
    return u;
  }
  if (text.find('#', end) != std::string::npos) return bad("fragments are not accepted");
  size_t q = text.find('?', end);
  u.path = text.substr(end, q == std::string::npos ? std::string::npos : q - end);
  if (u.path.empty()) u.path = "/";
  if (q != std::string::npos) u.query = text.substr(q + 1);
  return u;
}

HostPolicy::HostPolicy(std::vector<std::string> allowed, bool allow_http, bool allow_loopback)
    : allow_http_(allow_http), allow_loopback_(allow_loopback) {
  for (auto& a : allowed) {
    std::string s = absl::AsciiStrToLower(a);
    if (absl::StartsWith(s, "*.")) s = s.substr(2);
    if (absl::StartsWith(s, ".")) s = s.substr(1);
    if (!s.empty()) allowed_.push_back(s);
  }
}

bool HostPolicy::IsLoopback(const std::string& host) {
  return host == "localhost" || absl::EndsWith(host, ".localhost") || absl::StartsWith(host, "127.") || host == "::1" ||
         host == "0.0.0.0" || host == "::";
}

absl::Status HostPolicy::Check(const Url& url) const {
  if (url.scheme == "http" && !allow_http_) {
    return GatewayError(
        absl::StatusCode::kInvalidArgument, "HOST_NOT_ALLOWED",
        absl::StrCat("plain http to ", url.host, " is not allowed; use https or set security.allow_http=true"));
  }
  if (IsLoopback(url.host)) {
    if (allow_loopback_) return absl::OkStatus();
    return GatewayError(absl::StatusCode::kInvalidArgument, "HOST_NOT_ALLOWED",
                        absl::StrCat("loopback host ", url.host,
                                     " is not allowed; set security.allow_loopback=true for local testing"));
  }
  for (const std::string& a : allowed_) {
    if (url.host == a || absl::EndsWith(url.host, absl::StrCat(".", a))) return absl::OkStatus();
  }
  return GatewayError(
      absl::StatusCode::kInvalidArgument, "HOST_NOT_ALLOWED",
      absl::StrCat("host ", url.host, " is not in security.allowed_hosts; the gateway only calls configured portals"));
}

}  // namespace b24::http
