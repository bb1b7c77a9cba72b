// ExportCursor: the position of a GetAll export, as an opaque string a client
// may hand back to resume, bound to the export it came from.
//
// A cursor names the portal, the method and a digest of the caller's params,
// and carries the position (keyset: each range's last delivered ID and upper
// bound; offset: the next offset and the total). It is authenticated with
// HMAC-SHA256 under a per-deployment key, so a client can neither forge
// ranges nor move a cursor to another export: a contact cursor given to a
// deal export would otherwise silently skip deals, and a cursor reused with a
// narrower filter would return items the filter excludes.
//
// Text form: "c2." base64url(payload JSON) "." base64url(HMAC). Decode checks,
// in this order, the form, the signature, the portal, the method, the params
// and the position's shape; each failure is INVALID_ARGUMENT with reason
// INVALID_CURSOR and a message naming what differs.
// Thread-safety: immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/rest/json.h"

namespace b24::rest {

// What a cursor is bound to.
struct ExportIdentity {
  std::string portal;         // "member:<member_id>" or "host:<host[:port]>"
  std::string method;         // as the caller wrote it
  std::string params_digest;  // ExportCursor::ParamsDigest of the caller's params
};

// Where an export stands.
struct ExportPosition {
  bool keyset = true;
  int64_t delivered = 0;
  std::vector<std::pair<int64_t, int64_t>> ranges;  // keyset: {last delivered ID, inclusive upper bound or -1}
  int64_t offset = 0, total = -1;                   // offset mode
};

class ExportCursor {
 public:
  // Longest cursor accepted (16 ranges need well under 1 KiB).
  static constexpr size_t kMaxLength = 4096;
  // Most ranges a cursor may name (the export's own cap).
  static constexpr size_t kMaxRanges = 16;

  // `key`: the deployment's secret; any length, 32 random bytes recommended.
  explicit ExportCursor(std::string key);

  std::string Encode(const ExportIdentity& identity, const ExportPosition& position) const;
  absl::StatusOr<ExportPosition> Decode(absl::string_view cursor, const ExportIdentity& expected) const;

  // Hex SHA-256 of the params' JSON text (first 32 hex digits).
  static std::string ParamsDigest(const Json& params);

 private:
  std::string Mac(absl::string_view payload) const;
  std::string key_;
};

}  // namespace b24::rest
