#include "service/common/status.h"

#include <nlohmann/json.hpp>

namespace b24 {
namespace {
constexpr absl::string_view kPayloadUrl = "type.b24/ErrorDetail";
}

absl::Status ErrorWithDetail(absl::StatusCode code, absl::string_view message, ErrorDetail detail) {
  absl::Status status(code, message);
  nlohmann::json j = {{"reason", detail.reason}, {"domain", detail.domain}, {"metadata", detail.metadata}};
  // Portal text may not be UTF-8: replace, never throw (dump() would).
  status.SetPayload(kPayloadUrl, absl::Cord(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  return status;
}

absl::Status GatewayError(absl::StatusCode code, absl::string_view reason, absl::string_view message) {
  return ErrorWithDetail(code, message, {std::string(reason), std::string(kDomainGateway), {}});
}

std::optional<ErrorDetail> GetErrorDetail(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return std::nullopt;
  auto j = nlohmann::json::parse(std::string(*payload), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  ErrorDetail d;
  d.reason = j.value("reason", "");
  d.domain = j.value("domain", "");
  d.metadata = j.value("metadata", std::map<std::string, std::string>{});
  return d;
}

}  // namespace b24
