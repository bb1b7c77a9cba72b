#include "client-sdk/cpp/client.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace b24::client {

namespace v1 = bitrix24::v1;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageToJsonString;

namespace {

// Payloads of an absl::Status made by FromGrpc, so Classify(absl::Status) sees the details.
constexpr char kDetailsPayload[] = "type.googleapis.com/google.rpc.Status";
constexpr char kMessagePayload[] = "bitrix24service/grpc-message";

// proto3's JSON mapping prints int64 fields as strings ("total": "5"); the
// envelope's own numbers are numbers again here (never inside `result`).
void Int64sAsNumbers(nlohmann::ordered_json& object) {
  if (!object.is_object()) return;
  for (const char* key : {"total", "next", "operating_reset_at"}) {
    auto it = object.find(key);
    if (it != object.end() && it->is_string()) {
      int64_t v = 0;
      if (absl::SimpleAtoi(it->get<std::string>(), &v)) *it = v;
    }
  }
  if (auto t = object.find("time"); t != object.end()) Int64sAsNumbers(*t);
  if (auto r = object.find("results"); r != object.end() && r->is_array()) {
    for (auto& item : *r) Int64sAsNumbers(item);
  }
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!MessageToJsonString(message, &out, options).ok()) return absl::InternalError("cannot print the response");
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return out;
  Int64sAsNumbers(doc);
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::Status ParseParams(const std::string& json, google::protobuf::Struct* out) {
  if (json.empty()) return absl::OkStatus();
  auto s = JsonStringToMessage(json, out);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params must be a JSON object: ", std::string(s.message()), " in ", json.substr(0, 200)));
  }
  return absl::OkStatus();
}

absl::Status Invalid(const std::string& what) { return absl::InvalidArgumentError(what); }

// Commands of Batch() from JSON: a list of {"key","method","params"} or an object
// {key: {"method","params"}} (the object's key order is the order of the commands).
absl::Status ParseCommands(const std::string& text, v1::BatchRequest* request) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Invalid("the batch commands are not valid JSON");
  auto add = [&](const std::string& key, const nlohmann::ordered_json& c) -> absl::Status {
    if (!c.is_object())
      return Invalid(absl::StrCat("batch command ", key, " must be an object with method and params"));
    v1::BatchCommand* cmd = request->add_commands();
    cmd->set_key(key);
    auto m = c.find("method");
    if (m == c.end() || !m->is_string())
      return Invalid(absl::StrCat("batch command ", key, " has no \"method\" string"));
    cmd->set_method(m->get<std::string>());
    auto p = c.find("params");
    if (p != c.end() && !p->is_null()) {
      if (!p->is_object()) return Invalid(absl::StrCat("the params of batch command ", key, " must be an object"));
      return ParseParams(p->dump(), cmd->mutable_params());
    }
    return absl::OkStatus();
  };
  if (doc.is_array()) {
    for (const auto& c : doc) {
      auto k = c.is_object() ? c.find("key") : c.end();
      if (!c.is_object() || k == c.end() || !k->is_string()) {
        return Invalid("each batch command in a list needs a \"key\" string: [{\"key\": \"a\", \"method\": ...}]");
      }
      if (absl::Status s = add(k->get<std::string>(), c); !s.ok()) return s;
    }
  } else if (doc.is_object()) {
    for (const auto& [key, c] : doc.items()) {
      if (absl::Status s = add(key, c); !s.ok()) return s;
    }
  } else {
    return Invalid("the batch commands must be a JSON list or object");
  }
  return absl::OkStatus();
}

absl::Time DeadlineOf(std::optional<absl::Duration> timeout, absl::Duration fallback) {
  absl::Duration d = timeout.value_or(fallback);
  return d == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + d;
}

}  // namespace

v1::PortalRef ParsePortal(const std::string& text) {
  v1::PortalRef ref;
  // A member_id is 32 hex digits (a linear scan, no regular expression).
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

bool IsReadMethod(const std::string& method) {
  static const std::set<std::string> kReadSuffixes = {"get", "list", "fields", "search", "count", "tail"};
  static const std::set<std::string> kReads = {"profile", "app.info",    "user.current", "methods",   "method.get",
                                               "scope",   "server.time", "feature.get",  "user.admin"};
  std::string lower = method;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (kReads.count(lower)) return true;
  size_t dot = lower.rfind('.');
  return dot != std::string::npos && kReadSuffixes.count(lower.substr(dot + 1)) > 0;
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

Error Classify(const grpc::Status& status) {
  static const std::set<std::string> kLimitCodes = {"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT",
                                                    "DEADLINE_BEFORE_SEND"};
  Error e;
  e.grpc_code = status.error_code();
  e.message = status.error_message();
  if (auto info = ErrorInfoOf(status)) {
    e.domain = info->domain;
    e.code = info->domain == "bitrix24" && info->reason == "UNSPECIFIED" ? "" : info->reason;
    e.metadata = info->metadata;
  }
  auto meta = [&](const char* key) {
    auto it = e.metadata.find(key);
    return it == e.metadata.end() ? std::string() : it->second;
  };
  e.description = meta("error_description").empty() ? e.message : meta("error_description");
  e.may_have_executed = meta("may_have_executed") == "true";
  if (meta("needs_reinstall") == "true") {
    e.kind = Error::Kind::kNeedsReinstall;
  } else if (kLimitCodes.count(e.code) > 0 || e.grpc_code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    e.kind = Error::Kind::kLimit;
  }
  return e;
}

Error Classify(const absl::Status& status) {
  std::string details, message(status.message());
  if (auto p = status.GetPayload(kDetailsPayload)) details = std::string(*p);
  if (auto p = status.GetPayload(kMessagePayload)) message = std::string(*p);
  return Classify(grpc::Status(static_cast<grpc::StatusCode>(status.code()), message, details));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  std::string message = status.error_message();
  Error e = Classify(status);
  if (!e.code.empty() && message.find(e.code) == std::string::npos) message = absl::StrCat(e.code, ": ", message);
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), message);
  if (!status.error_details().empty()) out.SetPayload(kDetailsPayload, absl::Cord(status.error_details()));
  out.SetPayload(kMessagePayload, absl::Cord(status.error_message()));
  return out;
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)), stub_(v1::Bitrix24Service::NewStub(channel_)), options_(std::move(options)) {
  options_.max_attempts = std::max(1, options_.max_attempts);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
    : Client(std::move(channel), ClientOptions{timeout}) {}

Client Client::Insecure(const std::string& target, ClientOptions options) {
  return Client(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()), std::move(options));
}

Client Client::Insecure(const std::string& target, absl::Duration timeout) {
  return Insecure(target, ClientOptions{timeout});
}

void Client::Prepare(grpc::ClientContext* ctx, std::optional<absl::Duration> timeout, const Metadata& extra) const {
  absl::Time deadline = DeadlineOf(timeout, options_.timeout);
  if (deadline != absl::InfiniteFuture()) ctx->set_deadline(absl::ToChronoTime(deadline));
  for (const auto& [k, v] : options_.metadata) ctx->AddMetadata(k, v);
  for (const auto& [k, v] : extra) ctx->AddMetadata(k, v);
}

grpc::Status Client::WithRetry(bool read, std::optional<absl::Duration> timeout,
                               const std::function<grpc::Status(absl::Time deadline)>& attempt) const {
  absl::Time deadline = DeadlineOf(timeout, options_.timeout);
  absl::Duration backoff = options_.initial_backoff;
  for (int n = 1;; ++n) {
    grpc::Status status = attempt(deadline);
    if (status.ok() || !read || n >= options_.max_attempts || status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        Classify(status).may_have_executed) {
      return status;
    }
    if (absl::Now() + backoff >= deadline) return status;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<std::string> Client::Call(const v1::PortalRef& portal, const std::string& method,
                                         const std::string& params_json, const CallOptions& options) {
  v1::CallRequest request;
  *request.mutable_portal() = portal;
  request.set_method(method);
  if (absl::Status s = ParseParams(params_json, request.mutable_params()); !s.ok()) return s;
  v1::CallResponse response;
  grpc::Status status = WithRetry(IsReadMethod(method), options.timeout, [&](absl::Time deadline) {
    grpc::ClientContext ctx;
    Prepare(&ctx, deadline - absl::Now(), options.metadata);
    return stub_->Call(&ctx, request, &response);
  });
  if (!status.ok()) return FromGrpc(status);
  return ToJson(response);
}

absl::StatusOr<std::string> Client::Batch(const v1::PortalRef& portal, const std::string& commands_json, bool halt,
                                          const CallOptions& options) {
  v1::BatchRequest request;
  if (absl::Status s = ParseCommands(commands_json, &request); !s.ok()) return s;
  *request.mutable_portal() = portal;
  request.set_halt(halt);
  bool read = std::all_of(request.commands().begin(), request.commands().end(),
                          [](const v1::BatchCommand& c) { return IsReadMethod(c.method()); });
  v1::BatchResponse response;
  grpc::Status status = WithRetry(read, options.timeout, [&](absl::Time deadline) {
    grpc::ClientContext ctx;
    Prepare(&ctx, deadline - absl::Now(), options.metadata);
    return stub_->Batch(&ctx, request, &response);
  });
  if (!status.ok()) return FromGrpc(status);
  return ToJson(response);
}

absl::StatusOr<v1::InstallResponse> Client::Install(const v1::InstallRequest& request, const CallOptions& options) {
  grpc::ClientContext ctx;
  Prepare(&ctx, options.timeout, options.metadata);
  v1::InstallResponse response;
  grpc::Status status = stub_->Install(&ctx, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

absl::StatusOr<v1::ListPortalsResponse> Client::ListPortals(const CallOptions& options) {
  v1::ListPortalsResponse response;
  grpc::Status status = WithRetry(true, options.timeout, [&](absl::Time deadline) {
    grpc::ClientContext ctx;
    Prepare(&ctx, deadline - absl::Now(), options.metadata);
    return stub_->ListPortals(&ctx, v1::ListPortalsRequest(), &response);
  });
  if (!status.ok()) return FromGrpc(status);
  return response;
}

absl::StatusOr<bool> Client::RemovePortal(const std::string& member_id, const CallOptions& options) {
  grpc::ClientContext ctx;
  Prepare(&ctx, options.timeout, options.metadata);
  v1::RemovePortalRequest request;
  request.set_member_id(member_id);
  v1::RemovePortalResponse response;
  grpc::Status status = stub_->RemovePortal(&ctx, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response.removed();
}

absl::StatusOr<std::string> Client::Health(const std::string& service, const CallOptions& options) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = WithRetry(true, options.timeout, [&](absl::Time deadline) {
    grpc::ClientContext ctx;
    Prepare(&ctx, deadline - absl::Now(), options.metadata);
    return health->Check(&ctx, request, &response);
  });
  if (!status.ok()) return FromGrpc(status);
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

// ---------------------------------------------------------------------------
// GetAllStream

struct GetAllStream::State {
  const Client* client = nullptr;
  v1::GetAllRequest request;
  GetAllOptions options;
  absl::Time deadline = absl::InfiniteFuture();
  absl::Duration backoff;
  std::mutex mu;  // guards ctx (swapped on retry) against Cancel() from another thread
  std::unique_ptr<grpc::ClientContext> ctx;
  bool cancelled = false;
  std::unique_ptr<grpc::ClientReader<v1::GetAllResponse>> reader;
  v1::GetAllResponse message;
  int index = 0;
  int64_t items_at_cursor = 0;   // items yielded up to cursor_
  int64_t requests_before = 0;   // http_requests of finished attempts
  int64_t requests_attempt = 0;  // of the current one
  bool done = false;

  void Finish() {
    if (!reader) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      ctx->TryCancel();
    }
    (void)reader->Finish();
    reader.reset();
  }
};

GetAllStream::GetAllStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
GetAllStream::GetAllStream(GetAllStream&&) noexcept = default;
GetAllStream& GetAllStream::operator=(GetAllStream&&) noexcept = default;
GetAllStream::~GetAllStream() {
  if (state_) state_->Finish();
}

void GetAllStream::Cancel() {
  if (!state_) return;
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->cancelled = true;
  if (state_->ctx) state_->ctx->TryCancel();
}

GetAllStream::iterator GetAllStream::begin() {
  if (!begun_) {
    begun_ = true;
    if (!Fill()) return end();
  }
  return iterator(this);
}

bool GetAllStream::iterator::AtEnd() const {
  return stream_ == nullptr || stream_->state_->done ||
         stream_->state_->index >= stream_->state_->message.items_json_size();
}

const std::string& GetAllStream::iterator::operator*() const {
  const State& s = *stream_->state_;
  return s.message.items_json(s.index);
}

GetAllStream::iterator& GetAllStream::iterator::operator++() {
  State& s = *stream_->state_;
  // The item being left was yielded: count it, and take the message's cursor
  // with its last item.
  ++stream_->items_;
  ++s.index;
  if (s.index == s.message.items_json_size() && !s.message.cursor().empty()) {
    stream_->cursor_ = s.message.cursor();
    s.items_at_cursor = stream_->items_;
  }
  if (s.index >= s.message.items_json_size() && !stream_->Fill()) stream_ = nullptr;
  return *this;
}

bool GetAllStream::Next(std::string* item) {
  State& s = *state_;
  if (!begun_) {
    begun_ = true;
    if (!Fill()) return false;
  } else if (s.done) {
    return false;
  }
  if (s.index >= s.message.items_json_size() && !Fill()) return false;
  *item = std::move(*s.message.mutable_items_json(s.index));
  ++s.index;
  ++items_;
  if (s.index == s.message.items_json_size() && !s.message.cursor().empty()) {
    cursor_ = s.message.cursor();
    s.items_at_cursor = items_;
  }
  return true;
}

// Reads until a message with items is current; false at the end (status_ set).
bool GetAllStream::Fill() {
  State& s = *state_;
  for (;;) {
    if (s.done) return false;
    if (!s.reader) {
      v1::GetAllRequest request = s.request;
      if (!cursor_.empty()) request.set_cursor(cursor_);
      if (s.request.limit() > 0) request.set_limit(std::max<int64_t>(1, s.request.limit() - s.items_at_cursor));
      auto ctx = std::make_unique<grpc::ClientContext>();
      s.client->Prepare(ctx.get(),
                        s.deadline == absl::InfiniteFuture() ? absl::InfiniteDuration() : s.deadline - absl::Now(),
                        s.options.metadata);
      {
        std::lock_guard<std::mutex> lock(s.mu);
        if (s.cancelled) ctx->TryCancel();
        s.ctx = std::move(ctx);
      }
      s.reader = s.client->stub_->GetAll(s.ctx.get(), request);
      ++attempts_;
      s.requests_before += s.requests_attempt;
      s.requests_attempt = 0;
    }
    s.message.Clear();
    s.index = 0;
    if (s.reader->Read(&s.message)) {
      s.requests_attempt = s.message.http_requests();
      http_requests_ = s.requests_before + s.requests_attempt;
      if (s.message.items_json_size() == 0 && !s.message.cursor().empty()) {
        cursor_ = s.message.cursor();
        s.items_at_cursor = items_;
      }
      if (s.message.items_json_size() > 0) return true;
      continue;
    }
    grpc::Status status = s.reader->Finish();
    s.reader.reset();
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      cancelled = s.cancelled;
    }
    bool reached_limit = s.request.limit() > 0 && items_ >= s.request.limit();
    if (!status.ok() && !cancelled && !reached_limit && status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        attempts_ < s.client->options_.max_attempts && !Classify(status).may_have_executed &&
        absl::Now() + s.backoff < s.deadline) {
      absl::SleepFor(s.backoff);
      s.backoff = std::min(s.backoff * 2, s.client->options_.max_backoff);
      continue;  // resume from cursor_
    }
    status_ = FromGrpc(status);
    s.done = true;
    return false;
  }
}

GetAllStream Client::GetAll(const v1::PortalRef& portal, const std::string& method, const std::string& params_json,
                            GetAllOptions options) {
  auto state = std::make_unique<GetAllStream::State>();
  state->client = this;
  *state->request.mutable_portal() = portal;
  state->request.set_method(method);
  state->request.set_limit(options.limit);
  state->request.set_format(v1::GetAllRequest::FORMAT_JSON);
  state->request.set_max_parallel_ranges(options.max_parallel_ranges);
  state->deadline =
      options.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + options.timeout;
  state->backoff = options_.initial_backoff;
  absl::Status parsed = ParseParams(params_json, state->request.mutable_params());
  GetAllStream stream(std::move(state));
  stream.cursor_ = options.cursor;
  stream.state_->options = std::move(options);
  if (!parsed.ok()) {
    stream.status_ = parsed;
    stream.state_->done = true;
  }
  return stream;
}

absl::StatusOr<int64_t> Client::GetAll(const v1::PortalRef& portal, const std::string& method,
                                       const std::string& params_json, int64_t limit,
                                       const std::function<void(const std::string&)>& on_item, absl::Duration timeout) {
  GetAllOptions options;
  options.limit = limit;
  options.timeout = timeout;
  GetAllStream stream = GetAll(portal, method, params_json, std::move(options));
  std::string item;
  while (stream.Next(&item)) on_item(item);
  if (!stream.status().ok()) return stream.status();
  return stream.items();
}

}  // namespace b24::client
