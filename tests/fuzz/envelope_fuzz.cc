// envelope_fuzz: b24::rest::ParseEnvelope on an arbitrary HTTP response.
//
// Input: the first 2 bytes are the HTTP status (mod 600), the rest the body.
// For a 3xx the body's first line is also sent as the Location header (its
// URL is parsed and redacted). Properties:
//   - ParseEnvelope and Classify never crash or throw, also with small limits;
//   - a success is only ever an answer under 300;
//   - any 3xx is FAILED_PRECONDITION (the caller follows the real redirects);
//   - a success is a non-empty body that is a JSON object with `result` and
//     no `error`.
#include <cstddef>
#include <cstdint>
#include <string>

#include "service/common/status.h"
#include "service/rest/envelope.h"
#include "tests/fuzz/check.h"

namespace {

void Check(const b24::http::HttpResponse& response, const b24::rest::JsonLimits& limits) {
  absl::StatusOr<b24::rest::Envelope> env = b24::rest::ParseEnvelope(response, "crm.deal.list", limits);
  if (env.ok()) {
    FUZZ_CHECK(response.status < 300, "a success comes only with a status under 300");
    FUZZ_CHECK(!response.body.empty(), "a success has a body");
    b24::rest::JsonParse body = b24::rest::ParseUntrustedJson(response.body, limits);
    FUZZ_CHECK(body.ok() && body.value.is_object() && body.value.contains("result") && !body.value.contains("error"),
               "a success is a JSON object with `result` and no `error`");
    (void)env->result.dump(-1, ' ', false, b24::rest::Json::error_handler_t::replace);
    return;
  }
  const absl::Status& status = env.status();
  if (response.status >= 300 && response.status < 400) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kFailedPrecondition, "a 3xx is UNEXPECTED_REDIRECT");
  }
  (void)b24::rest::Classify(status);
  (void)b24::rest::PortalErrorCode(status);
  (void)b24::GetErrorDetail(status);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  b24::http::HttpResponse response;
  response.status = ((data[0] << 8) | data[1]) % 600;
  response.body.assign(reinterpret_cast<const char*>(data) + 2, size - 2);
  response.headers.emplace_back("content-type", "application/json; charset=utf-8");
  if (response.status >= 300 && response.status < 400) {
    response.headers.emplace_back("location", response.body.substr(0, response.body.find('\n')));
  }
  Check(response, {});
  Check(response, {/*max_depth=*/8, /*max_values=*/1000});
  return 0;
}
