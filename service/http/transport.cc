#include "service/http/transport.h"

namespace b24::http {
namespace {
constexpr char kNotSentUrl[] = "type.b24/NotSent";
}

std::string HttpResponse::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

absl::Status MarkNotSent(absl::Status status) {
  status.SetPayload(kNotSentUrl, absl::Cord("1"));
  return status;
}

bool SurelyNotSent(const absl::Status& status) { return status.GetPayload(kNotSentUrl).has_value(); }

}  // namespace b24::http
