#include "service/grpc/service_impl.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "service/common/status.h"
#include "service/common/utf8.h"
#include "service/grpc/convert.h"

namespace b24::grpcapi {

namespace v1 = bitrix24::v1;

namespace {

void FillTime(const rest::TimeInfo& t, v1::Time* out) {
  out->set_start(t.start);
  out->set_finish(t.finish);
  out->set_duration(t.duration);
  out->set_processing(t.processing);
  out->set_operating(t.operating);
  out->set_operating_reset_at(t.operating_reset_at);
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Bytes of a response's own fields around its results (tags, total, next, time).
constexpr size_t kEnvelopeOverhead = 256;

}  // namespace

Bitrix24ServiceImpl::Bitrix24ServiceImpl(rest::RestClient& rest, const rest::ExportCursor& cursors,
                                         auth::PortalDirectory& portals, auth::OAuthManager* oauth,
                                         app::Installer* installer, Clock& clock, Logger& log, ServiceOptions options)
    : rest_(rest), cursors_(cursors), batch_(rest), portals_(portals), oauth_(oauth), installer_(installer),
      clock_(clock), log_(log), options_(options) {}

template <class Request, class Response, class Handler>
grpc::ServerUnaryReactor* Bitrix24ServiceImpl::Unary(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                                     grpc::ByteBuffer* out, Handler handler) {
  auto call = std::make_shared<std::pair<Request, Response>>();
  if (absl::Status s = DecodeRequest(*in, &call->first); !s.ok()) return FinishNow(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  (this->*handler)(ctx, call->first, &call->second, [reactor, call, out](absl::Status status) {
    if (status.ok()) status = EncodeResponse(call->second, out);
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

grpc::ServerUnaryReactor* Bitrix24ServiceImpl::Call(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                                    grpc::ByteBuffer* out) {
  return Unary<v1::CallRequest, v1::CallResponse>(ctx, in, out, &Bitrix24ServiceImpl::DoCall);
}
grpc::ServerUnaryReactor* Bitrix24ServiceImpl::Batch(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                                     grpc::ByteBuffer* out) {
  return Unary<v1::BatchRequest, v1::BatchResponse>(ctx, in, out, &Bitrix24ServiceImpl::DoBatch);
}
grpc::ServerUnaryReactor* Bitrix24ServiceImpl::Install(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                                       grpc::ByteBuffer* out) {
  return Unary<v1::InstallRequest, v1::InstallResponse>(ctx, in, out, &Bitrix24ServiceImpl::DoInstall);
}
grpc::ServerUnaryReactor* Bitrix24ServiceImpl::ListPortals(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
  return Unary<v1::ListPortalsRequest, v1::ListPortalsResponse>(ctx, in, out, &Bitrix24ServiceImpl::DoListPortals);
}
grpc::ServerUnaryReactor* Bitrix24ServiceImpl::RemovePortal(grpc::CallbackServerContext* ctx,
                                                            const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
  return Unary<v1::RemovePortalRequest, v1::RemovePortalResponse>(ctx, in, out, &Bitrix24ServiceImpl::DoRemovePortal);
}

absl::StatusOr<rest::Portal> Bitrix24ServiceImpl::Resolve(grpc::CallbackServerContext* ctx,
                                                          const v1::PortalRef& ref) {
  absl::StatusOr<rest::Portal> portal;
  switch (ref.portal_case()) {
    case v1::PortalRef::kMemberId:
      portal = portals_.ByMemberId(ref.member_id());
      break;
    case v1::PortalRef::kWebhookUrl:
      portal = portals_.ByWebhookUrl(ref.webhook_url());
      break;
    case v1::PortalRef::kName:
      portal = portals_.ByName(ref.name());
      break;
    default:
      return GatewayError(absl::StatusCode::kInvalidArgument, "MISSING_PORTAL",
                          "the request names no portal: set portal.member_id, portal.webhook_url or portal.name");
  }
  if (portal.ok()) portal->caller = ctx->peer();
  return portal;
}

absl::Time Bitrix24ServiceImpl::Deadline(grpc::CallbackServerContext* ctx) {
  auto d = ctx->deadline();
  if (d == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  // Measure what is left on the wall clock and apply it to our clock.
  return clock_.Now() + absl::FromChrono(d - std::chrono::system_clock::now());
}

void Bitrix24ServiceImpl::DoCall(grpc::CallbackServerContext* ctx, const v1::CallRequest& request,
                                 v1::CallResponse* response, Done done) {
  absl::StatusOr<rest::Portal> portal = Resolve(ctx, request.portal());
  if (!portal.ok()) return done(portal.status());
  absl::StatusOr<rest::Json> params = StructToJson(request.params());
  if (!params.ok()) return done(params.status());
  size_t max_bytes = options_.max_message_bytes;
  rest_.Call(*portal, request.method(), *params, Deadline(ctx),
             [response, max_bytes, method = request.method(), done = std::move(done)](
                 absl::StatusOr<rest::Envelope> env) {
               if (!env.ok()) return done(env.status());
               if (absl::Status s = CheckFits(ShapeOf(env->result), kEnvelopeOverhead, 1, max_bytes,
                                              absl::StrCat("the result of ", method));
                   !s.ok()) {
                 return done(s);
               }
               JsonToValue(env->result, response->mutable_result());
               if (env->total) response->set_total(*env->total);
               if (env->next) response->set_next(*env->next);
               FillTime(env->time, response->mutable_time());
               done(absl::OkStatus());
             });
}

void Bitrix24ServiceImpl::DoBatch(grpc::CallbackServerContext* ctx, const v1::BatchRequest& request,
                                  v1::BatchResponse* response, Done done) {
  absl::StatusOr<rest::Portal> portal = Resolve(ctx, request.portal());
  if (!portal.ok()) return done(portal.status());
  std::vector<rest::BatchCommand> commands;
  for (const v1::BatchCommand& c : request.commands()) {
    absl::StatusOr<rest::Json> params = StructToJson(c.params());
    if (!params.ok()) return done(params.status());
    commands.push_back({c.key(), c.method(), *std::move(params)});
  }
  size_t max_bytes = options_.max_message_bytes;
  batch_.Run(*portal, std::move(commands), request.halt(), Deadline(ctx),
             [response, max_bytes, done = std::move(done)](absl::StatusOr<rest::BatchResult> result) {
               if (!result.ok()) return done(result.status());
               // The whole response must fit one message: check before building.
               ProtoShape total;
               for (const rest::BatchCommandResult& c : result->commands) {
                 ProtoShape s = c.state == rest::BatchCommandResult::State::kOk ? ShapeOf(c.result) : ProtoShape{};
                 total.bytes += s.bytes + c.key.size() + c.error_code.size() + c.error_description.size() + 128;
                 total.depth = std::max(total.depth, s.depth);
               }
               if (absl::Status s = CheckFits(total, kEnvelopeOverhead, 2, max_bytes, "the batch's results");
                   !s.ok()) {
                 return done(s);
               }
               response->set_http_requests(result->http_requests);
               for (rest::BatchCommandResult& c : result->commands) {
                 v1::BatchResult* out = response->add_results();
                 out->set_key(c.key);
                 switch (c.state) {
                   case rest::BatchCommandResult::State::kOk:
                     JsonToValue(c.result, out->mutable_result());
                     FillTime(c.time, out->mutable_time());
                     break;
                   case rest::BatchCommandResult::State::kError:
                     out->mutable_error()->set_code(SanitizeUtf8(c.error_code));
                     out->mutable_error()->set_description(SanitizeUtf8(c.error_description));
                     break;
                   case rest::BatchCommandResult::State::kNotExecuted:
                     out->set_not_executed(true);
                     break;
                 }
                 if (c.total) out->set_total(*c.total);
                 if (c.next) out->set_next(*c.next);
               }
               done(absl::OkStatus());
             });
}

namespace {

// Streams an export, writing only when the previous write finished: the
// export sends no new upstream request while its small buffer is full, so a
// slow client slows the export instead of growing memory.
class GetAllReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  GetAllReactor(rest::RestClient& rest, const rest::ExportCursor& cursors, const rest::Portal& portal,
                rest::ExportRequest request, absl::Time deadline, v1::GetAllRequest::Format format,
                size_t max_message_bytes)
      : format_(format),
        max_message_bytes_(max_message_bytes),
        // Large chunks are split so no message nears the caller's limit.
        split_bytes_(std::min<size_t>(1 << 20, max_message_bytes / 2)),
        link_(std::make_shared<Link>()) {
    std::weak_ptr<Link> link = link_;
    auto exporter = rest::ListExport::Start(rest, cursors, portal, std::move(request), deadline, [link] {
      if (auto l = link.lock()) {
        std::lock_guard<std::recursive_mutex> lock(l->mu);
        if (l->reactor) l->reactor->MaybeWrite();
      }
    });
    // Only now may notifications reach this reactor (Start() can notify at
    // once, e.g. for a finished cursor); MaybeWrite() picks up what they said.
    std::lock_guard<std::recursive_mutex> lock(link_->mu);
    export_ = std::move(exporter);
    link_->reactor = this;
    MaybeWrite();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::recursive_mutex> lock(link_->mu);
    writing_ = false;
    if (!ok) {
      Done(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
      return;
    }
    MaybeWrite();
  }

  void OnCancel() override {
    std::lock_guard<std::recursive_mutex> lock(link_->mu);
    Done(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void OnDone() override {
    {
      std::lock_guard<std::recursive_mutex> lock(link_->mu);
      link_->reactor = nullptr;
    }
    export_->Cancel();
    delete this;
  }

 private:
  struct Link {
    std::recursive_mutex mu;  // the export may call back while MaybeWrite runs
    GetAllReactor* reactor = nullptr;
  };

  // link_->mu held.
  void Done(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    export_->Cancel();
    Finish(status);
  }

  // link_->mu held. A nested call (the export notifying from inside Next())
  // only asks the running one to look again.
  void MaybeWrite() {
    if (in_write_) {
      again_ = true;
      return;
    }
    in_write_ = true;
    do {
      again_ = false;
      Step();
    } while (again_ && !writing_ && !finished_);
    in_write_ = false;
  }

  void Step() {
    if (writing_ || finished_) return;
    if (pending_.empty()) {
      rest::ExportChunk chunk;
      switch (export_->Next(&chunk)) {
        case rest::ListExport::Poll::kWait:
          return;
        case rest::ListExport::Poll::kDone:
          Done(ToGrpcStatus(export_->status()));
          return;
        case rest::ListExport::Poll::kChunk:
          if (absl::Status s = Split(std::move(chunk)); !s.ok()) {
            Done(ToGrpcStatus(s));
            return;
          }
      }
    }
    if (absl::Status s = EncodeResponse(pending_.front(), &buffer_); !s.ok()) {
      Done(ToGrpcStatus(s));
      return;
    }
    pending_.pop_front();
    writing_ = true;
    StartWrite(&buffer_);
  }

  absl::Status Split(rest::ExportChunk chunk) {
    v1::GetAllResponse msg;
    size_t bytes = 0;
    constexpr size_t kItemOverhead = 64;  // tags, cursor, items_sent
    for (rest::Json& item : chunk.items) {
      if (format_ == v1::GetAllRequest::FORMAT_JSON) {
        std::string text = item.dump(-1, ' ', false, rest::Json::error_handler_t::replace);
        if (text.size() + kItemOverhead + chunk.cursor.size() > max_message_bytes_) {
          return CheckFits({text.size(), 1}, kItemOverhead + chunk.cursor.size(), 0, max_message_bytes_,
                           "an item of the list");
        }
        bytes += text.size();
        msg.add_items_json(std::move(text));
      } else {
        ProtoShape shape = ShapeOf(item);
        if (absl::Status s = CheckFits(shape, kItemOverhead + chunk.cursor.size(), 0, max_message_bytes_,
                                       "an item of the list");
            !s.ok()) {
          return s;
        }
        if (absl::Status s = JsonToStruct(item, msg.add_items()); !s.ok()) return s;
        bytes += shape.bytes;
      }
      if (bytes >= split_bytes_) {
        sent_ += msg.items_size() + msg.items_json_size();
        msg.set_items_sent(sent_);
        pending_.push_back(std::move(msg));
        msg = v1::GetAllResponse();
        bytes = 0;
      }
    }
    sent_ += msg.items_size() + msg.items_json_size();
    msg.set_items_sent(sent_);
    msg.set_cursor(chunk.cursor);
    pending_.push_back(std::move(msg));
    return absl::OkStatus();
  }

  v1::GetAllRequest::Format format_;
  size_t max_message_bytes_, split_bytes_;
  std::shared_ptr<Link> link_;
  std::shared_ptr<rest::ListExport> export_;
  std::deque<v1::GetAllResponse> pending_;
  grpc::ByteBuffer buffer_;  // the message being written
  int64_t sent_ = 0;
  bool writing_ = false;
  bool finished_ = false;
  bool in_write_ = false, again_ = false;
};

class FailedStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FailedStream(const absl::Status& s) { Finish(ToGrpcStatus(s)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* Bitrix24ServiceImpl::GetAll(grpc::CallbackServerContext* ctx,
                                                                        const grpc::ByteBuffer* in) {
  v1::GetAllRequest request;
  if (absl::Status s = DecodeRequest(*in, &request); !s.ok()) return new FailedStream(s);
  if (!v1::GetAllRequest::Format_IsValid(request.format())) {
    return new FailedStream(GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_EXPORT",
                                         absl::StrCat("format ", request.format(),
                                                      " is not a GetAllRequest.Format (FORMAT_STRUCT = 0, "
                                                      "FORMAT_JSON = 1)")));
  }
  absl::StatusOr<rest::Portal> portal = Resolve(ctx, request.portal());
  if (!portal.ok()) return new FailedStream(portal.status());
  absl::StatusOr<rest::Json> params = StructToJson(request.params());
  if (!params.ok()) return new FailedStream(params.status());
  rest::ExportRequest er;
  er.method = request.method();
  er.params = *std::move(params);
  er.limit = request.limit();
  er.cursor = request.cursor();
  er.max_parallel_ranges = request.max_parallel_ranges();
  return new GetAllReactor(rest_, cursors_, *portal, std::move(er), Deadline(ctx), request.format(),
                           options_.max_message_bytes);
}

namespace {
absl::Status NoStore() {
  return GatewayError(absl::StatusCode::kFailedPrecondition, "NO_TOKEN_STORE",
                      "this gateway has no token store configured (store.url)");
}
}  // namespace

void Bitrix24ServiceImpl::DoInstall(grpc::CallbackServerContext* ctx, const v1::InstallRequest& request,
                                    v1::InstallResponse* response, Done done) {
  if (!installer_) return done(NoStore());
  app::InstallInput in;
  switch (request.payload_case()) {
    case v1::InstallRequest::kUi:
      in.kind = app::InstallInput::Kind::kUi;
      in.fields.insert(request.ui().fields().begin(), request.ui().fields().end());
      break;
    case v1::InstallRequest::kOnappinstall:
      in.kind = app::InstallInput::Kind::kOnAppInstall;
      in.fields.insert(request.onappinstall().fields().begin(), request.onappinstall().fields().end());
      break;
    default:
      return done(GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_INSTALL",
                               "set either ui or onappinstall with the fields Bitrix24 sent"));
  }
  in.client_id = request.app().client_id();
  in.client_secret = request.app().client_secret();
  installer_->Install(in, Deadline(ctx), [response, done = std::move(done)](absl::StatusOr<app::InstallOutput> out) {
    if (!out.ok()) return done(out.status());
    response->set_member_id(out->member_id);
    response->set_domain(out->domain);
    response->set_finish_html(out->finish_html);
    done(absl::OkStatus());
  });
}

void Bitrix24ServiceImpl::DoListPortals(grpc::CallbackServerContext*, const v1::ListPortalsRequest&,
                                        v1::ListPortalsResponse* response, Done done) {
  // Named webhooks come from the configuration; installed portals from the
  // store, read on the OAuth manager's worker (never on this gRPC thread).
  auto add_webhooks = [this, response] {
    for (const auto& [name, url] : portals_.named_webhooks()) {
      auto p = portals_.ByName(name);
      auto* info = response->add_portals();
      info->set_id(SanitizeUtf8(name));
      info->set_kind(v1::PortalInfo::KIND_WEBHOOK);
      if (p.ok()) info->set_domain(p->host);
    }
  };
  if (!oauth_) {
    add_webhooks();
    return done(absl::OkStatus());
  }
  oauth_->ListPortals([response, add_webhooks, done = std::move(done)](
                          absl::StatusOr<std::vector<storage::PortalRecord>> rows) {
    if (!rows.ok()) return done(rows.status());
    for (const storage::PortalRecord& r : *rows) {
      auto* info = response->add_portals();
      info->set_id(SanitizeUtf8(r.member_id));
      info->set_domain(SanitizeUtf8(r.domain));
      info->set_kind(v1::PortalInfo::KIND_OAUTH);
      info->set_access_expires_at(r.expires_at);
      info->set_needs_reinstall(r.needs_reinstall);
    }
    add_webhooks();
    done(absl::OkStatus());
  });
}

void Bitrix24ServiceImpl::DoRemovePortal(grpc::CallbackServerContext*, const v1::RemovePortalRequest& request,
                                         v1::RemovePortalResponse* response, Done done) {
  if (!oauth_) return done(NoStore());
  if (request.member_id().empty()) {
    return done(GatewayError(absl::StatusCode::kInvalidArgument, "MISSING_PORTAL", "member_id is required"));
  }
  oauth_->RemovePortal(request.member_id(), [response, done = std::move(done)](absl::StatusOr<bool> removed) {
    if (!removed.ok()) return done(removed.status());
    response->set_removed(*removed);
    done(absl::OkStatus());
  });
}

}  // namespace b24::grpcapi
