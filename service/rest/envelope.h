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

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/http/transport.h"

namespace b24::rest {

// Ordered: batch commands, pages chained by references and multi-key `order`
// params run in the order they are written, so key order must survive.
using Json = nlohmann::ordered_json;

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
  kFinal,          // N: fix the request, the configuration or the portal
  kTransient,      // R: retry with backoff (reads; writes only if surely not executed)
  kRateLimited,    // QUERY_LIMIT_EXCEEDED: the portal did not run the request
  kOperatingLimit, // OPERATION_TIME_LIMIT: the method is blocked until its reset
  kExpiredToken,   // expired_token / invalid_token: refresh (or re-read) the token, repeat once
};

ErrorClass Classify(const absl::Status& status);

// The Status for a Bitrix24 error code/description seen with `http_status`.
absl::Status PortalError(const std::string& code, const std::string& description, int http_status,
                         const std::string& method);

// Decodes a complete HTTP response of `method` (redirects are handled by the caller).
absl::StatusOr<Envelope> ParseEnvelope(const http::HttpResponse& response, const std::string& method);

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
