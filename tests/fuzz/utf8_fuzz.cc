// utf8_fuzz: b24::IsValidUtf8 and b24::SanitizeUtf8.
//
// Properties:
//   - SanitizeUtf8's output is always IsValidUtf8, and sanitizing it again
//     changes nothing;
//   - input that IsValidUtf8 comes back unchanged;
//   - IsValidUtf8 agrees with a straightforward decoder written here from
//     the definition (no overlongs, no surrogates, nothing past U+10FFFF);
//   - the output is at most 3 bytes per input byte (one U+FFFD per byte at
//     worst), and every valid sequence of the input survives in order (the
//     output without its U+FFFDs equals the input's valid sequences).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "service/common/utf8.h"
#include "tests/fuzz/check.h"

namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0: decodes the code
// point and checks it, instead of following the byte table.
size_t ReferenceLength(absl::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0)
    n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0)
    n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool ReferenceValid(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = ReferenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// The well-formed sequences of `s`, in order, and the rest dropped.
std::string ValidPart(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = ReferenceLength(s, i);
    if (n == 0) {
      ++i;
      continue;
    }
    out.append(s.data() + i, n);
    i += n;
  }
  return out;
}

std::string WithoutReplacement(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 3, "\xEF\xBF\xBD") == 0) {
      i += 3;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  bool valid = b24::IsValidUtf8(in);
  FUZZ_CHECK(valid == ReferenceValid(in), "IsValidUtf8 agrees with the reference decoder");
  std::string out = b24::SanitizeUtf8(in);
  FUZZ_CHECK(b24::IsValidUtf8(out), "SanitizeUtf8's output is valid UTF-8");
  FUZZ_CHECK(ReferenceValid(out), "SanitizeUtf8's output is valid UTF-8 (reference)");
  if (valid) FUZZ_CHECK(out == in, "valid input comes back unchanged");
  FUZZ_CHECK(out.size() <= 3 * in.size(), "at most one U+FFFD per input byte");
  FUZZ_CHECK(b24::SanitizeUtf8(out) == out, "sanitizing twice changes nothing");
  // A valid sequence the input carries is kept; nothing else is added but
  // U+FFFD (which the input itself may also contain).
  FUZZ_CHECK(WithoutReplacement(out) == WithoutReplacement(ValidPart(in)), "valid sequences survive in order");
  return 0;
}
