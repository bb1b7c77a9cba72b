// Status helpers: how an error carries its machine-readable cause below the gRPC edge.
//
// Every error the gateway returns is an absl::Status. When the cause has a
// name a client can act on (a Bitrix24 error code like "ACCESS_DENIED", or a
// gateway reason like "HOST_NOT_ALLOWED"), it is attached as an ErrorDetail
// payload; service/grpc turns it into google.rpc.ErrorInfo. Messages never
// contain secrets: callers pass redacted text (see log.h Redact*).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace b24 {

inline constexpr absl::string_view kDomainPortal = "bitrix24";
inline constexpr absl::string_view kDomainGateway = "bitrix24service";

struct ErrorDetail {
  std::string reason;  // Bitrix24 error code or gateway reason.
  std::string domain;  // kDomainPortal or kDomainGateway.
  std::map<std::string, std::string> metadata;
};

// Returns `code`/`message` with `detail` attached.
absl::Status ErrorWithDetail(absl::StatusCode code, absl::string_view message, ErrorDetail detail);

// A gateway-decided error: domain kDomainGateway, reason `reason`.
absl::Status GatewayError(absl::StatusCode code, absl::string_view reason, absl::string_view message);

// The detail attached by ErrorWithDetail, if any.
std::optional<ErrorDetail> GetErrorDetail(const absl::Status& status);

}  // namespace b24
