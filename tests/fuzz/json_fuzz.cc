// json_fuzz: b24::rest::ParseUntrustedJson on arbitrary bytes.
//
// Properties, with small limits (depth 16, 5000 values) and the defaults:
//   - it never crashes or throws, whatever the input (depth, size, bad UTF-8);
//   - an accepted value is no deeper than max_depth;
//   - an accepted value dumps (error_handler replace) to text that parses
//     again with the same limits, and dumps the same the second time;
//   - the limits are monotone: what the small limits accept, the defaults
//     accept as the same value; a syntax error under the small limits is one
//     under the defaults too; a value deeper than 16 is refused by the small
//     (too deep, or too many values when that limit comes first).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "service/rest/json.h"
#include "tests/fuzz/check.h"

namespace {

using b24::rest::Json;
using b24::rest::JsonError;
using b24::rest::JsonLimits;
using b24::rest::JsonParse;

std::string Dump(const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Checks one accepted parse and returns its dump.
std::string CheckAccepted(const JsonParse& p, const JsonLimits& limits) {
  FUZZ_CHECK(p.message.empty(), "an accepted parse carries no message");
  FUZZ_CHECK(b24::rest::JsonDepth(p.value) <= limits.max_depth, "accepted value within max_depth");
  std::string text = Dump(p.value);
  JsonParse again = b24::rest::ParseUntrustedJson(text, limits);
  FUZZ_CHECK(again.ok(), "the dump of an accepted value parses again with the same limits");
  FUZZ_CHECK(Dump(again.value) == text, "dump -> parse -> dump is stable");
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  const JsonLimits small{/*max_depth=*/16, /*max_values=*/5000};
  const JsonLimits defaults{};

  JsonParse s = b24::rest::ParseUntrustedJson(text, small);
  JsonParse d = b24::rest::ParseUntrustedJson(text, defaults);
  FUZZ_CHECK(s.ok() == s.message.empty(), "a refused parse says why");
  FUZZ_CHECK(d.ok() == d.message.empty(), "a refused parse says why");

  std::string small_text, default_text;
  if (s.ok()) small_text = CheckAccepted(s, small);
  if (d.ok()) default_text = CheckAccepted(d, defaults);

  if (s.ok()) {
    FUZZ_CHECK(d.ok(), "what the small limits accept, the defaults accept");
    FUZZ_CHECK(small_text == default_text, "the same value under both limits");
  }
  if (s.error == JsonError::kSyntax) FUZZ_CHECK(d.error == JsonError::kSyntax, "a syntax error under both limits");
  if (d.ok() && b24::rest::JsonDepth(d.value) > small.max_depth) {
    FUZZ_CHECK(s.error == JsonError::kTooDeep || s.error == JsonError::kTooManyValues,
               "deeper than 16 is refused by the small limits (as too deep, or too many values first)");
  }
  return 0;
}
