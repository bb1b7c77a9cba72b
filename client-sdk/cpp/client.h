// b24::client::Client: a thin C++ client of Bitrix24Service.
//
// Every call carries a deadline (the client's default unless given), params
// and results are JSON text, and a failed call returns an absl::Status whose
// message includes the Bitrix24 error code (ErrorInfo.reason) and its
// description, e.g. "PERMISSION_DENIED: ACCESS_DENIED: Access denied!".
// ErrorInfoOf() gives the structured detail. Thread-safe like the gRPC stub.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bitrix24/v1/bitrix24.grpc.pb.h"

namespace b24::client {

struct ErrorInfo {
  std::string reason, domain;
  std::map<std::string, std::string> metadata;
};

// Parses a portal argument: an http(s) URL is a webhook URL, 32 hex digits a
// member_id, anything else the name of a configured webhook.
bitrix24::v1::PortalRef ParsePortal(const std::string& text);

class Client {
 public:
  explicit Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout = absl::Seconds(60));
  // Connects without TLS to `target` ("127.0.0.1:50051").
  static Client Insecure(const std::string& target, absl::Duration timeout = absl::Seconds(60));

  // Calls `method`; `params_json` is a JSON object text ("" = {}). Returns the
  // response as JSON text: {"result": ..., "total": n, "next": n, "time": {...}}.
  absl::StatusOr<std::string> Call(const bitrix24::v1::PortalRef& portal, const std::string& method,
                                   const std::string& params_json);
  // Runs commands given as a JSON object {key: {"method": m, "params": {...}}}
  // or a list of such objects with "key"; returns BatchResponse as JSON text.
  absl::StatusOr<std::string> Batch(const bitrix24::v1::PortalRef& portal, const std::string& commands_json, bool halt);
  // Streams every item of a list method; `on_item` gets each item as JSON text.
  // Returns the number of items.
  absl::StatusOr<int64_t> GetAll(const bitrix24::v1::PortalRef& portal, const std::string& method,
                                 const std::string& params_json, int64_t limit,
                                 const std::function<void(const std::string&)>& on_item,
                                 absl::Duration timeout = absl::InfiniteDuration());
  absl::StatusOr<bitrix24::v1::ListPortalsResponse> ListPortals();

  bitrix24::v1::Bitrix24Service::Stub& stub() { return *stub_; }

 private:
  void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) const;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<bitrix24::v1::Bitrix24Service::Stub> stub_;
  absl::Duration timeout_;
};

// absl::Status from a grpc::Status, with the ErrorInfo reason and description in the message.
absl::Status FromGrpc(const grpc::Status& status);
// The ErrorInfo in a grpc::Status's details, if any.
std::optional<ErrorInfo> ErrorInfoOf(const grpc::Status& status);

}  // namespace b24::client
