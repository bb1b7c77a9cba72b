#include "service/rest/envelope.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/common/status.h"
#include "service/common/utf8.h"
#include "service/http/url.h"

namespace b24::rest {
namespace {

using Code = absl::StatusCode;

struct Mapping {
  const char* error;
  Code code;
};

// Bitrix24 error → gRPC code (PROTOCOL.md §2.1, §2.2).
constexpr Mapping kMappings[] = {
    {"expired_token", Code::kUnauthenticated},
    {"invalid_token", Code::kUnauthenticated},
    {"NO_AUTH_FOUND", Code::kUnauthenticated},
    {"INVALID_CREDENTIALS", Code::kUnauthenticated},
    {"authorization_error", Code::kUnauthenticated},
    {"APPLICATION_NOT_FOUND", Code::kUnauthenticated},
    {"ERROR_OAUTH", Code::kUnauthenticated},
    {"NOT_INSTALLED", Code::kFailedPrecondition},
    {"insufficient_scope", Code::kPermissionDenied},
    {"user_access_error", Code::kPermissionDenied},
    {"ACCESS_DENIED", Code::kPermissionDenied},
    {"METHOD_CONFIRM_DENIED", Code::kPermissionDenied},
    {"WRONG_AUTH_TYPE", Code::kPermissionDenied},
    {"ALLOWED_ONLY_INTRANET_USER", Code::kPermissionDenied},
    {"INVALID_REQUEST", Code::kFailedPrecondition},
    {"METHOD_CONFIRM_WAITING", Code::kFailedPrecondition},
    {"PAYMENT_REQUIRED", Code::kFailedPrecondition},
    {"PORTAL_DELETED", Code::kNotFound},
    {"ERROR_METHOD_NOT_FOUND", Code::kNotFound},
    {"OPERATION_TIME_LIMIT", Code::kResourceExhausted},
    {"QUERY_LIMIT_EXCEEDED", Code::kResourceExhausted},
    {"OVERLOAD_LIMIT", Code::kResourceExhausted},
    {"INTERNAL_SERVER_ERROR", Code::kUnavailable},
    {"ERROR_UNEXPECTED_ANSWER", Code::kUnavailable},
    {"CONNECTION_ERROR", Code::kUnavailable},
    {"ERROR_CORE", Code::kInternal},
    {"ERROR_ARGUMENT", Code::kInvalidArgument},
    {"INVALID_ARG_VALUE", Code::kInvalidArgument},
    {"ERROR_BATCH_LENGTH_EXCEEDED", Code::kInvalidArgument},
    {"ERROR_BATCH_METHOD_NOT_ALLOWED", Code::kInvalidArgument},
    {"WRONG_ENCODING", Code::kInvalidArgument},
    {"ERROR_NOT_FOUND", Code::kNotFound},
    {"NOT_FOUND", Code::kNotFound},
    {"ACCESS_ERROR", Code::kPermissionDenied},
    {"wrong_client", Code::kFailedPrecondition},
    {"invalid_client", Code::kFailedPrecondition},
    {"invalid_grant", Code::kFailedPrecondition},
    {"invalid_scope", Code::kPermissionDenied},
};

Code CodeForHttpStatus(int status) {
  switch (status) {
    case 400:
      return Code::kInvalidArgument;
    case 401:
      return Code::kUnauthenticated;
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 405:
      return Code::kInvalidArgument;
    case 408:
      return Code::kDeadlineExceeded;
    case 429:
      return Code::kResourceExhausted;
    default:
      break;
  }
  if (status >= 500) return Code::kUnavailable;
  if (status >= 400) return Code::kFailedPrecondition;
  return Code::kUnknown;
}

// The start of an upstream body for an error message: redacted, one line,
// valid UTF-8 (RedactBody scans only what it shows).
std::string Snippet(absl::string_view body) {
  std::string s = SanitizeUtf8(RedactBody(body.substr(0, 120), 120));
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return body.size() > 120 ? s + "..." : s;
}

absl::Status Upstream(const std::string& method, int http_status, absl::string_view reason, absl::string_view what,
                      std::map<std::string, std::string> extra = {}) {
  extra["http_status"] = absl::StrCat(http_status);
  extra["method"] = method;
  return ErrorWithDetail(Code::kUnavailable,
                         absl::StrCat("portal answered ", method, " with HTTP ", http_status, " and ", what),
                         {std::string(reason), std::string(kDomainGateway), std::move(extra)});
}

}  // namespace

TimeInfo TimeInfo::FromJson(const Json& t) {
  TimeInfo out;
  if (!t.is_object()) return out;
  auto num = [&](const char* k) {
    auto it = t.find(k);
    return it != t.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  out.start = num("start");
  out.finish = num("finish");
  out.duration = num("duration");
  out.processing = num("processing");
  out.operating = num("operating");
  double reset = num("operating_reset_at");
  out.operating_reset_at = reset > 0 && reset < 1e12 ? static_cast<int64_t>(reset) : 0;
  return out;
}

absl::Status PortalError(const std::string& code, const std::string& description, int http_status,
                         const std::string& method) {
  Code grpc_code = CodeForHttpStatus(http_status);
  bool mapped = false;
  for (const Mapping& m : kMappings) {
    if (code == m.error) {
      grpc_code = m.code;
      mapped = true;
      break;
    }
  }
  if (!mapped && code.empty()) {
    // Some modules send an empty code with a telling description.
    std::string d = absl::AsciiStrToLower(description);
    if (absl::StrContains(d, "not found"))
      grpc_code = Code::kNotFound;
    else if (absl::StrContains(d, "access denied"))
      grpc_code = Code::kPermissionDenied;
  }
  ErrorDetail detail{
      code.empty() ? "UNSPECIFIED" : code,
      std::string(kDomainPortal),
      {{"error_description", description}, {"http_status", absl::StrCat(http_status)}, {"method", method}}};
  std::string message = absl::StrCat("Bitrix24 ", code.empty() ? "error" : code, " from ", method, ": ",
                                     description.empty() ? "(no description)" : description);
  return ErrorWithDetail(grpc_code, message, std::move(detail));
}

std::string PortalErrorCode(const absl::Status& status) {
  auto d = GetErrorDetail(status);
  return d && d->domain == kDomainPortal ? d->reason : "";
}

const Json* JsonMember(const Json& object, const std::string& key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string JsonString(const Json& object, const std::string& key) {
  const Json* v = JsonMember(object, key);
  return v && v->is_string() ? v->get<std::string>() : "";
}

std::optional<int64_t> JsonInt(const Json* value) {
  if (!value) return std::nullopt;
  if (value->is_number_unsigned()) {
    uint64_t u = value->get<uint64_t>();
    return u > static_cast<uint64_t>(INT64_MAX) ? std::nullopt : std::optional<int64_t>(static_cast<int64_t>(u));
  }
  if (value->is_number_integer()) return value->get<int64_t>();
  if (value->is_number()) {
    double d = value->get<double>();
    // Out of range (or NaN) would be undefined behaviour in the cast.
    if (!(d > -9.2e18 && d < 9.2e18)) return std::nullopt;
    return static_cast<int64_t>(d);
  }
  int64_t v;
  if (value->is_string() && absl::SimpleAtoi(value->get<std::string>(), &v)) return v;
  return std::nullopt;
}

ErrorClass Classify(const absl::Status& status) {
  std::string code = PortalErrorCode(status);
  if (code == "QUERY_LIMIT_EXCEEDED") return ErrorClass::kRateLimited;
  if (code == "OPERATION_TIME_LIMIT") return ErrorClass::kOperatingLimit;
  // invalid_token: another replica refreshed and the old token died with it.
  if (code == "expired_token" || code == "invalid_token") return ErrorClass::kExpiredToken;
  if (code == "INTERNAL_SERVER_ERROR" || code == "ERROR_UNEXPECTED_ANSWER" || code == "CONNECTION_ERROR") {
    return ErrorClass::kTransient;
  }
  if (!code.empty()) return ErrorClass::kFinal;
  auto detail = GetErrorDetail(status);
  if (detail && detail->metadata.count("limit")) return ErrorClass::kFinal;  // the same answer would come again
  if (detail && (detail->reason == "UPSTREAM_BAD_RESPONSE" || detail->reason == "UPSTREAM_EMPTY_RESPONSE")) {
    return ErrorClass::kTransient;
  }
  if (status.code() == Code::kUnavailable) return ErrorClass::kTransient;
  if (status.code() == Code::kDeadlineExceeded && !detail) return ErrorClass::kTransient;
  return ErrorClass::kFinal;
}

absl::Status BadEnvelope(const std::string& method, int http_status, absl::string_view what) {
  return Upstream(method, http_status, "UPSTREAM_BAD_RESPONSE", what);
}

absl::StatusOr<Envelope> ParseEnvelope(const http::HttpResponse& response, const std::string& method,
                                       const JsonLimits& limits) {
  if (response.status >= 300 && response.status < 400) {
    // A renamed portal answers 301/302 (followed by the rest client). Any other
    // redirect is not Bitrix24's: its body is not trusted as an error code, and
    // after a POST a 303 may even mean the request ran.
    std::string location =
        http::ParseUrl(response.Header("location")).ok() ? RedactUrl(response.Header("location")) : std::string("none");
    return ErrorWithDetail(Code::kFailedPrecondition,
                           absl::StrCat("portal answered ", method, " with HTTP ", response.status,
                                        " (Location: ", SanitizeUtf8(location.substr(0, 200)),
                                        "); the gateway follows only the 301/302/307/308 of a renamed portal"),
                           {"UNEXPECTED_REDIRECT",
                            std::string(kDomainGateway),
                            {{"http_status", absl::StrCat(response.status)}, {"method", method}}});
  }
  if (response.body.empty()) return Upstream(method, response.status, "UPSTREAM_EMPTY_RESPONSE", "an empty body");
  JsonParse parsed = ParseUntrustedJson(response.body, limits);
  if (parsed.error == JsonError::kTooDeep || parsed.error == JsonError::kTooManyValues) {
    const char* setting = parsed.error == JsonError::kTooDeep ? "http.max_json_depth" : "http.max_json_values";
    return Upstream(method, response.status, "UPSTREAM_BAD_RESPONSE",
                    absl::StrCat("a JSON body ", parsed.message, " (", setting, "); refused unread"),
                    {{"limit", setting}});
  }
  Json& body = parsed.value;
  if (!parsed.ok() || !body.is_object()) {
    std::string type = response.Header("content-type");
    return Upstream(method, response.status, "UPSTREAM_BAD_RESPONSE",
                    absl::StrCat("a body that is not a JSON envelope (", type.empty() ? "no content type" : type,
                                 "): ", Snippet(response.body)));
  }
  if (auto err = body.find("error"); err != body.end()) {
    std::string code = err->is_string() ? err->get<std::string>() : err->dump();
    std::string description;
    if (auto d = body.find("error_description"); d != body.end()) {
      description = d->is_string() ? d->get<std::string>() : d->dump();
    }
    return PortalError(code.substr(0, 200), description.substr(0, 2000), response.status, method);
  }
  if (response.status >= 300) {
    return Upstream(method, response.status, "UPSTREAM_BAD_RESPONSE", "a JSON body without an error code");
  }
  auto res = body.find("result");
  if (res == body.end())
    return Upstream(method, response.status, "UPSTREAM_BAD_RESPONSE", "a JSON body without `result`");
  Envelope env;
  env.result = std::move(*res);
  env.total = JsonInt(JsonMember(body, "total"));
  env.next = JsonInt(JsonMember(body, "next"));
  if (auto t = body.find("time"); t != body.end()) env.time = TimeInfo::FromJson(*t);
  return env;
}

}  // namespace b24::rest
