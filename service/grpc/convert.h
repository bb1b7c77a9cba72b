// Conversions at the gRPC edge: absl::Status → grpc::Status with a
// google.rpc.Status (ErrorInfo, RetryInfo) in the details, JSON ↔ protobuf
// Struct/Value, and decoding request bytes. Nothing below service/grpc sees a
// protobuf type.
//
// Everything put into a status is valid UTF-8 (a protobuf client drops a
// google.rpc.Status whose strings are not, and the ErrorInfo with it).
// JSON → protobuf is direct (no text round trip) and linear; the size of the
// protobuf a JSON value becomes is computed before it is built, so a result
// too large for the caller's message limit is refused without building it.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bitrix24/v1/bitrix24.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "service/rest/json.h"

namespace b24::grpcapi {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Protobuf clients refuse messages nested deeper than this (their default
// recursion limit); a result that would be is refused here with a clear status.
inline constexpr int kProtobufRecursionLimit = 100;

absl::StatusOr<rest::Json> StructToJson(const google::protobuf::Struct& s);

// The encoded size of `j` as a google.protobuf.Value and its nesting in
// protobuf messages (a JSON object costs 3 levels: Value, Struct, map entry;
// an array 2). Linear, no allocation.
struct ProtoShape {
  size_t bytes = 0;
  int depth = 0;
};
ProtoShape ShapeOf(const rest::Json& j);

// Fails with RESOURCE_EXHAUSTED RESULT_TOO_LARGE when `shape` plus `overhead`
// bytes would exceed `max_bytes`, or FAILED_PRECONDITION RESULT_TOO_DEEP when
// it would nest past the protobuf limit at `base_depth`. `what` names it.
absl::Status CheckFits(const ProtoShape& shape, size_t overhead, int base_depth, size_t max_bytes,
                       const std::string& what);

void JsonToValue(const rest::Json& j, google::protobuf::Value* out);
// FAILED_PRECONDITION (reason ITEMS_NOT_OBJECTS) when `j` is not an object.
absl::Status JsonToStruct(const rest::Json& j, google::protobuf::Struct* out);

// Decodes a request of type `out` from its wire bytes. INVALID_ARGUMENT with
// reason INVALID_REQUEST and a message saying what is wrong (a string field
// that is not UTF-8, nesting past protobuf's limit, bytes that are not this
// message) — gRPC's own handler would answer UNIMPLEMENTED with no message.
absl::Status DecodeRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* out);
// Encodes a response.
absl::Status EncodeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out);

// Routes protobuf's own log lines (e.g. "String field ... contains invalid
// UTF-8") into the decoder's error message instead of stderr. Called once by
// main before serving.
void InstallProtobufLogHandler();

}  // namespace b24::grpcapi
