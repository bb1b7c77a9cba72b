#include "service/rest/export_cursor.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/common/status.h"
#include "service/rest/envelope.h"

namespace b24::rest {
namespace {

constexpr absl::string_view kPrefix = "c2.";

absl::Status Invalid(absl::string_view why) {
  return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_CURSOR",
                      absl::StrCat("the GetAll cursor ", why, "; start the export again without a cursor"));
}

std::optional<int64_t> Int(const Json& object, const char* key) {
  const Json* v = JsonMember(object, key);
  if (!v || !v->is_number_integer()) return std::nullopt;
  return v->get<int64_t>();
}

}  // namespace

ExportCursor::ExportCursor(std::string key) : key_(std::move(key)) {}

std::string ExportCursor::ParamsDigest(const Json& params) {
  std::string text = params.dump(-1, ' ', false, Json::error_handler_t::replace);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 16));
}

std::string ExportCursor::Mac(absl::string_view payload) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(payload.data()),
       payload.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string ExportCursor::Encode(const ExportIdentity& id, const ExportPosition& pos) const {
  Json p = {{"p", id.portal}, {"m", id.method}, {"q", id.params_digest}, {"n", pos.delivered}};
  if (pos.keyset) {
    Json r = Json::array();
    for (const auto& [last, hi] : pos.ranges) r.push_back({last, hi});
    p["k"] = r;
  } else {
    p["s"] = pos.offset;
    p["t"] = pos.total;
  }
  std::string payload = p.dump(-1, ' ', false, Json::error_handler_t::replace);
  return absl::StrCat(kPrefix, absl::WebSafeBase64Escape(payload), ".", absl::WebSafeBase64Escape(Mac(payload)));
}

absl::StatusOr<ExportPosition> ExportCursor::Decode(absl::string_view cursor, const ExportIdentity& expected) const {
  if (cursor.size() > kMaxLength) return Invalid(absl::StrCat("is longer than ", kMaxLength, " characters"));
  if (!absl::StartsWith(cursor, kPrefix)) {
    return Invalid(absl::StartsWith(cursor, "{") ? "comes from an older gateway version" : "is not a GetAll cursor");
  }
  cursor.remove_prefix(kPrefix.size());
  size_t dot = cursor.find('.');
  std::string payload, mac;
  if (dot == absl::string_view::npos || !absl::WebSafeBase64Unescape(cursor.substr(0, dot), &payload) ||
      !absl::WebSafeBase64Unescape(cursor.substr(dot + 1), &mac)) {
    return Invalid("is damaged (truncated or not base64)");
  }
  std::string want = Mac(payload);
  if (mac.size() != want.size() || CRYPTO_memcmp(mac.data(), want.data(), want.size()) != 0) {
    return Invalid(
        "has a wrong signature: it was changed, or signed by a gateway with another "
        "security.cursor_key");
  }
  JsonParse parsed = ParseUntrustedJson(payload, {/*max_depth=*/3, /*max_values=*/200});
  if (!parsed.ok() || !parsed.value.is_object()) return Invalid("is damaged");
  const Json& c = parsed.value;
  if (std::string portal = JsonString(c, "p"); portal != expected.portal) {
    return Invalid(absl::StrCat("belongs to another portal (", portal, "), not ", expected.portal));
  }
  if (std::string method = JsonString(c, "m"); method != expected.method) {
    return Invalid(absl::StrCat("belongs to an export of ", method, ", not ", expected.method));
  }
  if (JsonString(c, "q") != expected.params_digest) {
    return Invalid(absl::StrCat("belongs to an export of ", expected.method,
                                " with other params (filter, select, order, ...); resume with the same params"));
  }
  ExportPosition pos;
  std::optional<int64_t> delivered = Int(c, "n");
  if (!delivered || *delivered < 0) return Invalid("is damaged");
  pos.delivered = *delivered;
  if (const Json* ranges = JsonMember(c, "k")) {
    if (!ranges->is_array() || ranges->size() > kMaxRanges) return Invalid("is damaged");
    for (const Json& r : *ranges) {
      if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number_integer()) {
        return Invalid("is damaged");
      }
      pos.ranges.emplace_back(r[0].get<int64_t>(), r[1].get<int64_t>());
    }
    return pos;
  }
  std::optional<int64_t> offset = Int(c, "s"), total = Int(c, "t");
  if (!offset || !total || *offset < 0) return Invalid("is damaged");
  pos.keyset = false;
  pos.offset = *offset;
  pos.total = *total;
  return pos;
}

}  // namespace b24::rest
