#include "client-sdk/cpp/client.h"

#include <algorithm>
#include <cctype>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace b24::client {

namespace v1 = bitrix24::v1;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageToJsonString;

namespace {

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!MessageToJsonString(message, &out, options).ok()) return absl::InternalError("cannot print the response");
  return out;
}

}  // namespace

v1::PortalRef ParsePortal(const std::string& text) {
  v1::PortalRef ref;
  // A member_id is 32 hex digits (checked by hand: std::regex recurses per character).
  bool member =
      text.size() == 32 && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
  if (text.rfind("http://", 0) == 0 || text.rfind("https://", 0) == 0) {
    ref.set_webhook_url(text);
  } else if (member) {
    ref.set_member_id(text);
  } else {
    ref.set_name(text);
  }
  return ref;
}

Client::Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
    : channel_(std::move(channel)), stub_(v1::Bitrix24Service::NewStub(channel_)), timeout_(timeout) {}

Client Client::Insecure(const std::string& target, absl::Duration timeout) {
  return Client(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()), timeout);
}

void Client::SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) const {
  if (timeout != absl::InfiniteDuration()) {
    ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  }
}

std::optional<ErrorInfo> ErrorInfoOf(const grpc::Status& status) {
  google::rpc::Status rich;
  if (status.error_details().empty() || !rich.ParseFromString(status.error_details())) return std::nullopt;
  for (const auto& any : rich.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) {
      ErrorInfo out{info.reason(), info.domain(), {}};
      for (const auto& [k, v] : info.metadata()) out.metadata[k] = v;
      return out;
    }
  }
  return std::nullopt;
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  std::string message = status.error_message();
  if (auto info = ErrorInfoOf(status); info && message.find(info->reason) == std::string::npos) {
    message = absl::StrCat(info->reason, ": ", message);
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), message);
}

absl::StatusOr<std::string> Client::Call(const v1::PortalRef& portal, const std::string& method,
                                         const std::string& params_json) {
  v1::CallRequest request;
  *request.mutable_portal() = portal;
  request.set_method(method);
  if (!params_json.empty() && !JsonStringToMessage(params_json, request.mutable_params()).ok()) {
    return absl::InvalidArgumentError(absl::StrCat("params are not a JSON object: ", params_json));
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout_);
  v1::CallResponse response;
  grpc::Status status = stub_->Call(&ctx, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return ToJson(response);
}

absl::StatusOr<std::string> Client::Batch(const v1::PortalRef& portal, const std::string& commands_json, bool halt) {
  v1::BatchRequest request;
  std::string wrapped = absl::StrCat("{\"commands\":", commands_json, "}");
  if (!JsonStringToMessage(wrapped, &request).ok()) {
    return absl::InvalidArgumentError("commands must be a JSON list of {\"key\": k, \"method\": m, \"params\": {...}}");
  }
  *request.mutable_portal() = portal;
  request.set_halt(halt);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout_);
  v1::BatchResponse response;
  grpc::Status status = stub_->Batch(&ctx, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return ToJson(response);
}

absl::StatusOr<int64_t> Client::GetAll(const v1::PortalRef& portal, const std::string& method,
                                       const std::string& params_json, int64_t limit,
                                       const std::function<void(const std::string&)>& on_item, absl::Duration timeout) {
  v1::GetAllRequest request;
  *request.mutable_portal() = portal;
  request.set_method(method);
  request.set_limit(limit);
  request.set_format(v1::GetAllRequest::FORMAT_JSON);
  if (!params_json.empty() && !JsonStringToMessage(params_json, request.mutable_params()).ok()) {
    return absl::InvalidArgumentError(absl::StrCat("params are not a JSON object: ", params_json));
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout);
  auto reader = stub_->GetAll(&ctx, request);
  v1::GetAllResponse chunk;
  int64_t n = 0;
  while (reader->Read(&chunk)) {
    for (const std::string& item : chunk.items_json()) {
      on_item(item);
      ++n;
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpc(status);
  return n;
}

absl::StatusOr<v1::ListPortalsResponse> Client::ListPortals() {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout_);
  v1::ListPortalsResponse response;
  grpc::Status status = stub_->ListPortals(&ctx, v1::ListPortalsRequest(), &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

}  // namespace b24::client
