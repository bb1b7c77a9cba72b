// redact_fuzz: b24::RedactBody and b24::RedactUrl.
//
// Properties:
//   - on arbitrary bytes (whole, and cut at a length taken from the data)
//     neither crashes;
//   - for a text built as  prefix + "\"access_token\":\"" + secret + rest,
//     with a secret of 8+ characters from [A-Za-z0-9] taken from the data,
//     the secret does not appear in RedactBody(text, text.size() + 10) —
//     checked when the secret occurs exactly once in the text (a prefix or
//     rest that repeats it would show it unredacted, rightly), and when the
//     prefix leaves "access_token" a key: it does not end in a backslash
//     (escaping the key's opening quote) nor in ':' and blanks (making the
//     key the value of the prefix's last key, which is what gets redacted).
//
// Strict by default: every prefix is checked, and also the key written inside
// a JSON string, as in  {"options":"{\"access_token\":\"SECRET  (JSON text
// carried in a string field). The fuzzer found both gaps in RedactBody (now
// fixed; the reproducers are in corpus/redact). B24_REDACT_FUZZ_STRICT=0
// checks only the key contexts above.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "service/common/log.h"
#include "tests/fuzz/check.h"

namespace {

// True when `prefix` leaves "access_token" a key for RedactBody (and for a
// JSON reader): the prefix does not end in a backslash, which would escape
// the key's opening quote, nor in ':' and blanks, which would make the key a
// value (of the prefix's last key).
bool KeyContext(const std::string& prefix) {
  if (!prefix.empty() && prefix.back() == '\\') return false;
  size_t end = prefix.size();
  while (end > 0 && absl::ascii_isspace(static_cast<unsigned char>(prefix[end - 1]))) --end;
  return end == 0 || prefix[end - 1] != ':';
}

bool Strict() {
  static const bool strict = [] {
    const char* v = std::getenv("B24_REDACT_FUZZ_STRICT");
    return !(v && std::string(v) == "0");
  }();
  return strict;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

void CheckRedacted(const std::string& text, const std::string& secret) {
  if (Count(text, secret) != 1) return;
  std::string out = b24::RedactBody(text, text.size() + 10);
  if (out.find(secret) != std::string::npos) {
    std::fprintf(stderr, "secret %s leaked\ntext:     %s\nredacted: %s\n", secret.c_str(),
                 absl::CHexEscape(text).c_str(), absl::CHexEscape(out).c_str());
  }
  FUZZ_CHECK(out.find(secret) == std::string::npos, "the access_token value is redacted");
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
  if (Strict() || KeyContext(prefix)) CheckRedacted(prefix + "\"access_token\":\"" + secret + rest, secret);
  if (Strict()) CheckRedacted(prefix + "\\\"access_token\\\":\\\"" + secret + rest, secret);
  return 0;
}
