#include "service/grpc/convert.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "service/common/status.h"

namespace b24::grpcapi {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(status.code()));
  rich.set_message(std::string(status.message()));
  if (auto detail = GetErrorDetail(status)) {
    google::rpc::ErrorInfo info;
    info.set_reason(detail->reason);
    info.set_domain(detail->domain);
    for (const auto& [k, v] : detail->metadata) (*info.mutable_metadata())[k] = v;
    rich.add_details()->PackFrom(info);
    if (auto it = detail->metadata.find("retry_after_seconds"); it != detail->metadata.end()) {
      google::rpc::RetryInfo retry;
      retry.mutable_retry_delay()->set_seconds(std::stoll(it->second));
      rich.add_details()->PackFrom(retry);
    }
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      rich.SerializeAsString());
}

absl::StatusOr<nlohmann::ordered_json> StructToJson(const google::protobuf::Struct& s) {
  std::string text;
  auto st = google::protobuf::util::MessageToJsonString(s, &text);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("params: ", st.ToString()));
  return nlohmann::ordered_json::parse(text);
}

absl::Status JsonToValue(const nlohmann::ordered_json& j, google::protobuf::Value* out) {
  auto st = google::protobuf::util::JsonStringToMessage(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), out);
  if (!st.ok()) return absl::InternalError(absl::StrCat("cannot convert the portal's JSON: ", st.ToString()));
  return absl::OkStatus();
}

absl::Status JsonToStruct(const nlohmann::ordered_json& j, google::protobuf::Struct* out) {
  auto st = google::protobuf::util::JsonStringToMessage(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), out);
  if (!st.ok()) return absl::InternalError(absl::StrCat("cannot convert the portal's JSON: ", st.ToString()));
  return absl::OkStatus();
}

}  // namespace b24::grpcapi
