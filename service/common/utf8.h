// UTF-8 validation and repair for text that crosses a trust boundary.
//
// Portals may send bytes that are not UTF-8; protobuf `string` fields (and the
// google.rpc.Status a gRPC client parses from the trailers) must be valid
// UTF-8, or the client drops the whole message. Everything the gateway puts
// into a status, an ErrorInfo or a Struct goes through SanitizeUtf8 first.
// Both functions run in linear time and never allocate more than the output.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace b24 {

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// `text` with every ill-formed sequence replaced by U+FFFD (one per maximal
// invalid subpart, as the Unicode standard recommends).
std::string SanitizeUtf8(absl::string_view text);

}  // namespace b24
