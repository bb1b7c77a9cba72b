// redact_fuzz: b24::RedactBody and b24::RedactUrl.
//
// Properties:
//   - on arbitrary bytes (whole, and cut at a length taken from the data)
//     neither crashes;
//   - for a text built as  prefix + "\"access_token\":\"" + secret + rest,
//     with a secret of 8+ characters from [A-Za-z0-9] taken from the data,
//     the secret does not appear in RedactBody(text, text.size() + 10) —
//     checked when the secret occurs exactly once in the text (a prefix or
//     rest that repeats it would show it unredacted, rightly).
#include <cstddef>
#include <cstdint>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "absl/strings/string_view.h"
#include "service/common/log.h"
#include "tests/fuzz/check.h"

namespace {

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view raw(reinterpret_cast<const char*>(data), size);
  (void)b24::RedactBody(raw);
  (void)b24::RedactBody(raw, raw.size() + 10);
  (void)b24::RedactUrl(raw);
  if (size > 0) (void)b24::RedactBody(raw, data[0]);  // cut anywhere in the first 255 bytes

  FuzzedDataProvider fdp(data, size);
  static constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string secret;
  size_t secret_len = fdp.ConsumeIntegralInRange<size_t>(8, 64);
  for (size_t i = 0; i < secret_len; ++i) secret.push_back(kAlnum[fdp.ConsumeIntegralInRange<size_t>(0, 61)]);
  std::string prefix = fdp.ConsumeRandomLengthString(4096);
  std::string rest = fdp.ConsumeRemainingBytesAsString();
  std::string text = prefix + "\"access_token\":\"" + secret + rest;
  if (Count(text, secret) != 1) return 0;
  std::string out = b24::RedactBody(text, text.size() + 10);
  if (out.find(secret) != std::string::npos) {
    std::fprintf(stderr, "secret %s leaked; text: %s\nredacted: %s\n", secret.c_str(), text.c_str(), out.c_str());
  }
  FUZZ_CHECK(out.find(secret) == std::string::npos, "the access_token value is redacted");
  return 0;
}
