// Envelope: decoding a Bitrix24 REST response into a result or a Status.
//
// A success body is {"result": ..., "total": n, "next": n, "time": {...}};
// an error body is {"error": CODE, "error_description": TEXT} (PROTOCOL.md
// §1.5-1.6). The Bitrix24 code decides the gRPC code (the HTTP status only
// where there is none); the code, description and HTTP status travel with the
// Status as an ErrorDetail (domain "bitrix24"). Bodies that are not JSON or
// are empty become UNAVAILABLE with reason UPSTREAM_BAD_RESPONSE /
// UPSTREAM_EMPTY_RESPONSE and are retried only by read-only callers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/http/transport.h"
#include "service/rest/json.h"

namespace b24::rest {

// The `time` object; zero where absent.
struct TimeInfo {
  double start = 0, finish = 0, duration = 0, processing = 0, operating = 0;
  int64_t operating_reset_at = 0;
  static TimeInfo FromJson(const Json& time);
};

struct Envelope {
  Json result;
  std::optional<int64_t> total;
  std::optional<int64_t> next;
  TimeInfo time;
};

// How an error may be retried (PROTOCOL.md §2 classes).
enum class ErrorClass {
  kFinal,           // N: fix the request, the configuration or the portal
  kTransient,       // R: retry with backoff (reads; writes only if surely not executed)
  kRateLimited,     // QUERY_LIMIT_EXCEEDED: the portal did not run the request
  kOperatingLimit,  // OPERATION_TIME_LIMIT: the method is blocked until its reset
  kExpiredToken,    // expired_token / invalid_token: refresh (or re-read) the token, repeat once
};

ErrorClass Classify(const absl::Status& status);

// The Status for a Bitrix24 error code/description seen with `http_status`.
absl::Status PortalError(const std::string& code, const std::string& description, int http_status,
                         const std::string& method);

// Decodes a complete HTTP response of `method` (301/302/307/308 are handled
// by the caller; any other 3xx is FAILED_PRECONDITION UNEXPECTED_REDIRECT).
// Bodies past `limits` are UNAVAILABLE UPSTREAM_BAD_RESPONSE with metadata
// "limit" naming the setting; Classify() treats those as final (the same
// answer would come again).
absl::StatusOr<Envelope> ParseEnvelope(const http::HttpResponse& response, const std::string& method,
                                       const JsonLimits& limits = {});

// The UNAVAILABLE UPSTREAM_BAD_RESPONSE status for an answer of `method` that
// is JSON but not the envelope it should be (e.g. a batch result without
// its maps).
absl::Status BadEnvelope(const std::string& method, int http_status, absl::string_view what);

// An integer from a JSON number or a numeric string (PHP sends both), or nullopt.
std::optional<int64_t> JsonInt(const Json* value);
// object[key] when `object` is an object that has it, else nullptr. Portal
// JSON is untrusted: never call .value()/.at() on it directly (they throw).
const Json* JsonMember(const Json& object, const std::string& key);
// object[key] when it is a string, else "".
std::string JsonString(const Json& object, const std::string& key);

// The Bitrix24 error code carried by `status`, or "".
std::string PortalErrorCode(const absl::Status& status);

}  // namespace b24::rest
