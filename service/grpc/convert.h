// Conversions at the gRPC edge: absl::Status → grpc::Status with a
// google.rpc.Status (ErrorInfo, RetryInfo) in the details, and JSON ↔ protobuf
// Struct/Value. Nothing below service/grpc sees a protobuf type.
#pragma once

#include <grpcpp/support/status.h>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bitrix24/v1/bitrix24.pb.h"
#include "google/protobuf/struct.pb.h"

namespace b24::grpcapi {

grpc::Status ToGrpcStatus(const absl::Status& status);

absl::StatusOr<nlohmann::ordered_json> StructToJson(const google::protobuf::Struct& s);
absl::Status JsonToValue(const nlohmann::ordered_json& j, google::protobuf::Value* out);
absl::Status JsonToStruct(const nlohmann::ordered_json& j, google::protobuf::Struct* out);

}  // namespace b24::grpcapi
