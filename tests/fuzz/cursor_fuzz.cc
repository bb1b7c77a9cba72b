// cursor_fuzz: b24::rest::ExportCursor.
//
// Properties:
//   - Decode of the raw input against a fixed identity never crashes; it
//     fails with INVALID_ARGUMENT (unless the input is a seed made by Encode
//     under the fuzzer's key, then it is a sane position as below);
//   - Decode of a payload taken from the data and signed with the right key
//     (as only a gateway could) never crashes, and what it accepts is a
//     sane position: delivered >= 0, at most 16 ranges, offset >= 0;
//   - Encode of a valid position and identity built from the data, then
//     Decode with the same identity, gives the position back exactly;
//     Decode with another method, another portal, other params or another
//     key fails with INVALID_ARGUMENT.
#include <cstddef>
#include <cstdint>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "service/common/utf8.h"
#include "service/rest/export_cursor.h"
#include "tests/fuzz/check.h"

namespace {

using b24::rest::ExportCursor;
using b24::rest::ExportIdentity;
using b24::rest::ExportPosition;

const std::string kKey = "fuzz-cursor-key-0123456789abcdef";

bool Same(const ExportPosition& a, const ExportPosition& b) {
  if (a.keyset != b.keyset || a.delivered != b.delivered) return false;
  if (a.keyset) return a.ranges == b.ranges;
  return a.offset == b.offset && a.total == b.total;
}

void CheckSane(const ExportPosition& p) {
  FUZZ_CHECK(p.delivered >= 0, "a decoded cursor has delivered >= 0");
  FUZZ_CHECK(p.ranges.size() <= ExportCursor::kMaxRanges, "a decoded cursor has at most 16 ranges");
  if (!p.keyset) FUZZ_CHECK(p.offset >= 0 && p.ranges.empty(), "an offset cursor has offset >= 0 and no ranges");
}

// Identity strings are valid UTF-8 in the service (they come from protobuf
// strings and config), so the data's bytes are repaired first.
std::string Text(FuzzedDataProvider& fdp, size_t max) { return b24::SanitizeUtf8(fdp.ConsumeRandomLengthString(max)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ExportCursor cursor(kKey);
  static const ExportIdentity fixed{"member:0123456789abcdef", "crm.deal.list",
                                    ExportCursor::ParamsDigest(b24::rest::Json::object())};
  absl::string_view raw(reinterpret_cast<const char*>(data), size);

  // 1. Arbitrary text as a cursor.
  absl::StatusOr<ExportPosition> any = cursor.Decode(raw, fixed);
  if (any.ok())
    CheckSane(*any);  // a seed made by Encode under kKey
  else
    FUZZ_CHECK(any.status().code() == absl::StatusCode::kInvalidArgument, "a bad cursor is INVALID_ARGUMENT");

  // 2. An arbitrary payload with a valid signature.
  {
    std::string payload(raw);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()),
         reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
    std::string signed_cursor = absl::StrCat("c2.", absl::WebSafeBase64Escape(payload), ".",
                                             absl::WebSafeBase64Escape(std::string(reinterpret_cast<char*>(mac), len)));
    absl::StatusOr<ExportPosition> p = cursor.Decode(signed_cursor, fixed);
    if (p.ok())
      CheckSane(*p);
    else
      FUZZ_CHECK(p.status().code() == absl::StatusCode::kInvalidArgument, "a bad cursor is INVALID_ARGUMENT");
  }

  // 3. Round trip of a position and identity built from the data.
  FuzzedDataProvider fdp(data, size);
  ExportIdentity id;
  id.portal = Text(fdp, 80);
  id.method = Text(fdp, 60);
  id.params_digest = fdp.ConsumeBool() ? Text(fdp, 40) : fixed.params_digest;
  ExportPosition pos;
  pos.keyset = fdp.ConsumeBool();
  pos.delivered = fdp.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
  if (pos.keyset) {
    size_t n = fdp.ConsumeIntegralInRange<size_t>(0, ExportCursor::kMaxRanges);
    for (size_t i = 0; i < n; ++i) {
      int64_t last = fdp.ConsumeIntegral<int64_t>();
      pos.ranges.emplace_back(last, fdp.ConsumeIntegral<int64_t>());
    }
  } else {
    pos.offset = fdp.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
    pos.total = fdp.ConsumeIntegral<int64_t>();
  }
  std::string key = fdp.ConsumeRemainingBytesAsString();
  ExportCursor own(key);
  std::string text = own.Encode(id, pos);
  FUZZ_CHECK(text.size() <= ExportCursor::kMaxLength, "a cursor the gateway makes fits kMaxLength");
  absl::StatusOr<ExportPosition> back = own.Decode(text, id);
  if (!back.ok()) std::fprintf(stderr, "decode failed: %s\n", back.status().ToString().c_str());
  FUZZ_CHECK(back.ok(), "Encode -> Decode with the same identity succeeds");
  FUZZ_CHECK(Same(*back, pos), "Encode -> Decode gives the position back exactly");

  auto refused = [&](const ExportCursor& c, const ExportIdentity& other, const char* what) {
    absl::StatusOr<ExportPosition> r = c.Decode(text, other);
    if (r.ok()) std::fprintf(stderr, "accepted with %s\n", what);
    FUZZ_CHECK(!r.ok() && r.status().code() == absl::StatusCode::kInvalidArgument, what);
  };
  ExportIdentity other = id;
  other.method = id.method + ".x";
  refused(own, other, "a cursor is refused for another method");
  other = id;
  other.portal = id.portal == "host:a" ? "host:b" : "host:a";
  refused(own, other, "a cursor is refused for another portal");
  other = id;
  other.params_digest = id.params_digest + "0";
  refused(own, other, "a cursor is refused for other params");
  ExportCursor other_key(key + "x");
  refused(other_key, id, "a cursor is refused under another key");
  return 0;
}
