// b24::client::Client: the C++ client of Bitrix24Service.
//
// Installed as <bitrix24/client.h> by `cmake --install BUILD --component client`;
// a project then uses it with
//   find_package(Bitrix24Client CONFIG REQUIRED)
//   target_link_libraries(app PRIVATE Bitrix24::client)
//
// Every call carries a deadline (CallOptions::timeout, else the client's default)
// and the client's and the call's metadata. Params and results are JSON text.
// A failed call returns an absl::Status whose message starts with the Bitrix24
// error code (ErrorInfo.reason) and includes its description, e.g.
// "ACCESS_DENIED: Bitrix24 ACCESS_DENIED from crm.deal.get: Access denied!";
// Classify() gives the structured error (code, may_have_executed, needs_reinstall).
//
// Retries: UNAVAILABLE is retried (ClientOptions::max_attempts, exponential
// backoff, within the deadline) only for reads: ListPortals, Health, GetAll
// (resumed from its cursor) and Call/Batch whose every method is a read
// (IsReadMethod), and never when the gateway says the request may have executed.
// Writes are not retried: the gateway already retries what is safe to retry.
//
// Thread-safe like the gRPC stub; a GetAllStream belongs to one thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bitrix24/v1/bitrix24.grpc.pb.h"

namespace b24::client {

// The google.rpc.ErrorInfo of a failed call.
struct ErrorInfo {
  std::string reason, domain;
  std::map<std::string, std::string> metadata;
};

// What a failed call means to a caller; one rule shared by every client
// (client-sdk/README.md "Errors").
struct Error {
  enum class Kind {
    kError,           // any other error
    kLimit,           // QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT, DEADLINE_BEFORE_SEND, or DEADLINE_EXCEEDED
    kNeedsReinstall,  // the portal's refresh token is gone: reinstall the app
  };
  Kind kind = Kind::kError;
  grpc::StatusCode grpc_code = grpc::StatusCode::UNKNOWN;
  // ErrorInfo.reason; "" when the portal sent an empty code (reason
  // "UNSPECIFIED" in domain "bitrix24") or there is no ErrorInfo.
  std::string code;
  std::string domain;
  // ErrorInfo.metadata["error_description"], else the status message.
  std::string description;
  std::string message;  // the status message
  bool may_have_executed = false;
  std::map<std::string, std::string> metadata;
};

// Classifies a failed status (OK gives kind kError with grpc_code OK).
Error Classify(const grpc::Status& status);
// The same for a status returned by this client (it keeps the gRPC details).
Error Classify(const absl::Status& status);

// Parses a portal argument: an http(s) URL is a webhook URL, 32 hex digits a
// member_id, anything else the name of a configured webhook.
bitrix24::v1::PortalRef ParsePortal(const std::string& text);

// True for REST methods that only read: the last dot-separated part of the name is
// get, list, fields, search, count or tail, or the name is one of a few known reads
// (profile, app.info, user.current, methods, scope, server.time, ...).
bool IsReadMethod(const std::string& method);

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct ClientOptions {
  absl::Duration timeout = absl::Seconds(60);  // default deadline of unary calls
  int max_attempts = 3;                        // for reads failing with UNAVAILABLE; 1 = no retry
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  Metadata metadata;  // sent with every call (e.g. {"authorization", "Bearer ..."})
};

struct CallOptions {
  std::optional<absl::Duration> timeout;  // this call's deadline; InfiniteDuration() = none
  Metadata metadata;                      // added to the client's
};

struct GetAllOptions {
  int64_t limit = 0;                // stop after this many items; 0 = all
  std::string cursor;               // resume an export from this cursor
  int32_t max_parallel_ranges = 0;  // 0 = the gateway decides, 1 = one ordered range
  // Deadline of the whole stream; none by default (exports may be long).
  absl::Duration timeout = absl::InfiniteDuration();
  Metadata metadata;
};

class Client;

// The items of one export, as an input range of JSON texts:
//
//   b24::client::GetAllStream deals = client.GetAll(portal, "crm.deal.list");
//   for (const std::string& deal : deals) out << deal << "\n";
//   if (!deals.status().ok()) ... resume later with deals.cursor()
//
// cursor() covers every item the range has yielded so far: resuming from it
// loses nothing (items of a partly read message may come again). UNAVAILABLE in
// the middle is retried by resuming from the cursor (ClientOptions::max_attempts).
class GetAllStream {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string*;
    using reference = const std::string&;

    iterator() = default;
    reference operator*() const;
    pointer operator->() const { return &**this; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.AtEnd() == b.AtEnd(); }
    friend bool operator!=(const iterator& a, const iterator& b) { return !(a == b); }

   private:
    friend class GetAllStream;
    explicit iterator(GetAllStream* s) : stream_(s) {}
    bool AtEnd() const;
    GetAllStream* stream_ = nullptr;
  };

  GetAllStream(GetAllStream&&) noexcept;
  GetAllStream& operator=(GetAllStream&&) noexcept;
  ~GetAllStream();  // cancels an unfinished stream

  // Reads the first item; call once.
  iterator begin();
  iterator end() { return iterator(); }

  // The next item, or false at the end (then see status()).
  bool Next(std::string* item);
  // OK after every item was received; the error otherwise (also after Cancel()).
  const absl::Status& status() const { return status_; }
  // Position after the items yielded so far: GetAllOptions::cursor resumes there.
  const std::string& cursor() const { return cursor_; }
  int64_t items() const { return items_; }                  // items yielded
  int64_t http_requests() const { return http_requests_; }  // upstream requests, all attempts
  int attempts() const { return attempts_; }                // streams opened
  // Ends the stream from any thread; Next() then returns false with CANCELLED.
  void Cancel();

 private:
  friend class Client;
  struct State;
  explicit GetAllStream(std::unique_ptr<State> state);
  bool Fill();
  std::unique_ptr<State> state_;
  absl::Status status_;
  std::string cursor_;
  int64_t items_ = 0;
  int64_t http_requests_ = 0;
  int attempts_ = 0;
  bool begun_ = false;
};

class Client {
 public:
  explicit Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});
  Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);
  // Connects without TLS to `target` ("127.0.0.1:50051").
  static Client Insecure(const std::string& target, ClientOptions options = {});
  static Client Insecure(const std::string& target, absl::Duration timeout);

  // Calls `method`; `params_json` is a JSON object text ("" = {}). Returns the
  // response as JSON text: {"result": ..., "total": n, "next": n, "time": {...}}.
  absl::StatusOr<std::string> Call(const bitrix24::v1::PortalRef& portal, const std::string& method,
                                   const std::string& params_json, const CallOptions& options = {});
  // Runs commands given as a JSON list [{"key": k, "method": m, "params": {...}}]
  // or an object {key: {"method": m, "params": {...}}}; returns the
  // BatchResponse as JSON text {"results": [...], "http_requests": n}.
  absl::StatusOr<std::string> Batch(const bitrix24::v1::PortalRef& portal, const std::string& commands_json, bool halt,
                                    const CallOptions& options = {});
  // Streams every item of a list method (see GetAllStream).
  GetAllStream GetAll(const bitrix24::v1::PortalRef& portal, const std::string& method,
                      const std::string& params_json = "", GetAllOptions options = {});
  // The same with a callback per item; returns the number of items.
  absl::StatusOr<int64_t> GetAll(const bitrix24::v1::PortalRef& portal, const std::string& method,
                                 const std::string& params_json, int64_t limit,
                                 const std::function<void(const std::string&)>& on_item,
                                 absl::Duration timeout = absl::InfiniteDuration());
  absl::StatusOr<bitrix24::v1::InstallResponse> Install(const bitrix24::v1::InstallRequest& request,
                                                        const CallOptions& options = {});
  absl::StatusOr<bitrix24::v1::ListPortalsResponse> ListPortals(const CallOptions& options = {});
  absl::StatusOr<bool> RemovePortal(const std::string& member_id, const CallOptions& options = {});
  // grpc.health.v1 status of `service` ("" = the whole server): "SERVING", "NOT_SERVING", ...
  absl::StatusOr<std::string> Health(const std::string& service = "", const CallOptions& options = {});

  bitrix24::v1::Bitrix24Service::Stub& stub() { return *stub_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const ClientOptions& options() const { return options_; }

 private:
  friend class GetAllStream;
  void Prepare(grpc::ClientContext* ctx, std::optional<absl::Duration> timeout, const Metadata& extra) const;
  // Runs `attempt` once, or again after UNAVAILABLE when `read` (see the header comment).
  grpc::Status WithRetry(bool read, std::optional<absl::Duration> timeout,
                         const std::function<grpc::Status(absl::Time deadline)>& attempt) const;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<bitrix24::v1::Bitrix24Service::Stub> stub_;
  ClientOptions options_;
};

// absl::Status from a grpc::Status: the ErrorInfo reason and the message, with
// the rich details kept as a payload so that Classify(absl::Status) sees them.
absl::Status FromGrpc(const grpc::Status& status);
// The ErrorInfo in a grpc::Status's details, if any.
std::optional<ErrorInfo> ErrorInfoOf(const grpc::Status& status);

}  // namespace b24::client
