#include "service/grpc/service_impl.h"

#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

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
    : rest_(rest),
      cursors_(cursors),
      batch_(rest),
      portals_(portals),
      oauth_(oauth),
      installer_(installer),
      clock_(clock),
      options_(options) {}

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
grpc::ServerUnaryReactor* Bitrix24ServiceImpl::ListPortals(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                                           grpc::ByteBuffer* out) {
  return Unary<v1::ListPortalsRequest, v1::ListPortalsResponse>(ctx, in, out, &Bitrix24ServiceImpl::DoListPortals);
}
grpc::ServerUnaryReactor* Bitrix24ServiceImpl::RemovePortal(grpc::CallbackServerContext* ctx,
                                                            const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
  return Unary<v1::RemovePortalRequest, v1::RemovePortalResponse>(ctx, in, out, &Bitrix24ServiceImpl::DoRemovePortal);
}

absl::StatusOr<rest::Portal> Bitrix24ServiceImpl::Resolve(grpc::CallbackServerContext* ctx, const v1::PortalRef& ref) {
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
  rest_.Call(
      *portal, request.method(), *params, Deadline(ctx),
      [response, max_bytes, method = request.method(), done = std::move(done)](absl::StatusOr<rest::Envelope> env) {
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
               if (absl::Status s = CheckFits(total, kEnvelopeOverhead, 2, max_bytes, "the batch's results"); !s.ok()) {
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
//
// Callbacks may run inline (docs/architecture.md, "Callbacks"): the export's
// on_ready can fire from inside Start() or Next(). So no lock is held while
// calling into the export; one thread at a time runs the write loop (Pump),
// and a notification that arrives meanwhile only asks it to look again.
// The state lives in a shared Stream that outlives the reactor, so a late
// notification after OnDone finds `reactor == nullptr` and does nothing.
class GetAllReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  GetAllReactor(rest::RestClient& rest, const rest::ExportCursor& cursors, const rest::Portal& portal,
                rest::ExportRequest request, absl::Time deadline, v1::GetAllRequest::Format format,
                size_t max_message_bytes, std::shared_ptr<StreamCounters> counters)
      : stream_(std::make_shared<Stream>(format, max_message_bytes)) {
    stream_->counters = std::move(counters);
    {
      absl::MutexLock lock(&stream_->mu);
      stream_->reactor = this;
    }
    std::weak_ptr<Stream> weak = stream_;
    auto exporter = rest::ListExport::Start(rest, cursors, portal, std::move(request), deadline, [weak] {
      if (auto s = weak.lock()) Pump(s);
    });
    {
      absl::MutexLock lock(&stream_->mu);
      stream_->exporter = std::move(exporter);
    }
    Pump(stream_);  // picks up what Start() may already have said
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&stream_->mu);
      stream_->writing = false;
      if (!ok) stream_->FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
    }
    Pump(stream_);
  }

  void OnCancel() override {
    absl::MutexLock lock(&stream_->mu);
    stream_->FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void OnDone() override {
    std::shared_ptr<rest::ListExport> exporter;
    {
      absl::MutexLock lock(&stream_->mu);
      stream_->reactor = nullptr;
      exporter = stream_->exporter;
    }
    if (exporter) exporter->Cancel();
    delete this;
  }

 private:
  struct Stream {
    Stream(v1::GetAllRequest::Format f, size_t max_bytes)
        : format(f), max_message_bytes(max_bytes), split_bytes(std::min<size_t>(1 << 20, max_bytes / 2)) {}

    // mu held. Ends the stream once; the export stops sending requests.
    void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      if (finished) return;
      finished = true;
      if (exporter) exporter->Cancel();  // takes only the export's own lock, calls nothing back
      if (reactor) reactor->Finish(status);
    }

    const v1::GetAllRequest::Format format;
    const size_t max_message_bytes, split_bytes;
    std::shared_ptr<StreamCounters> counters;  // the service's totals
    absl::Mutex mu;
    GetAllReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;  // null after OnDone
    std::shared_ptr<rest::ListExport> exporter ABSL_GUARDED_BY(mu);
    std::deque<v1::GetAllResponse> pending ABSL_GUARDED_BY(mu);
    grpc::ByteBuffer buffer ABSL_GUARDED_BY(mu);  // the message being written
    int64_t sent ABSL_GUARDED_BY(mu) = 0;
    bool writing ABSL_GUARDED_BY(mu) = false;
    bool finished ABSL_GUARDED_BY(mu) = false;
    bool pumping ABSL_GUARDED_BY(mu) = false;  // a thread runs the loop
    bool again ABSL_GUARDED_BY(mu) = false;    // something changed while it ran
  };

  // The write loop. Any thread; at most one at a time runs it.
  static void Pump(const std::shared_ptr<Stream>& s) {
    std::shared_ptr<rest::ListExport> exporter;
    {
      absl::MutexLock lock(&s->mu);
      if (s->pumping) {
        s->again = true;
        return;
      }
      s->pumping = true;
      exporter = s->exporter;
    }
    for (;;) {
      bool need_chunk;
      {
        absl::MutexLock lock(&s->mu);
        s->again = false;
        if (!exporter) exporter = s->exporter;
        if (s->writing || s->finished || !s->reactor || !exporter) {
          s->pumping = false;
          return;
        }
        need_chunk = s->pending.empty();
      }
      std::deque<v1::GetAllResponse> split;
      absl::Status split_status;
      rest::ListExport::Poll poll = rest::ListExport::Poll::kChunk;
      if (need_chunk) {
        rest::ExportChunk chunk;
        poll = exporter->Next(&chunk);  // no lock held: an inline on_ready only sets `again`
        if (poll == rest::ListExport::Poll::kChunk) {
          split_status = Split(*s, std::move(chunk), exporter->http_requests(), &split);
        }
      }
      absl::MutexLock lock(&s->mu);
      if (need_chunk) {
        if (poll == rest::ListExport::Poll::kWait) {
          if (s->again) continue;
          s->pumping = false;
          return;
        }
        if (poll == rest::ListExport::Poll::kDone || !split_status.ok()) {
          s->FinishLocked(ToGrpcStatus(split_status.ok() ? exporter->status() : split_status));
          s->pumping = false;
          return;
        }
        for (auto& m : split) s->pending.push_back(std::move(m));
      }
      if (s->finished || !s->reactor) {
        s->pumping = false;
        return;
      }
      if (absl::Status e = EncodeResponse(s->pending.front(), &s->buffer); !e.ok()) {
        s->FinishLocked(ToGrpcStatus(e));
        s->pumping = false;
        return;
      }
      if (s->counters) {
        s->counters->items += s->pending.front().items_size() + s->pending.front().items_json_size();
        s->counters->bytes += static_cast<int64_t>(s->buffer.Length());
      }
      s->pending.pop_front();
      s->writing = true;
      s->reactor->StartWrite(&s->buffer);
      s->pumping = false;
      return;
    }
  }

  // Turns a chunk into messages no larger than the split size; CPU work, done
  // without the lock. `sent` is read and advanced under it.
  static absl::Status Split(Stream& s, rest::ExportChunk chunk, int64_t http_requests,
                            std::deque<v1::GetAllResponse>* out) {
    constexpr size_t kItemOverhead = 64;  // tags, cursor, items_sent, http_requests
    std::vector<v1::GetAllResponse> messages(1);
    size_t bytes = 0;
    for (rest::Json& item : chunk.items) {
      v1::GetAllResponse& msg = messages.back();
      if (s.format == v1::GetAllRequest::FORMAT_JSON) {
        std::string text = item.dump(-1, ' ', false, rest::Json::error_handler_t::replace);
        if (text.size() + kItemOverhead + chunk.cursor.size() > s.max_message_bytes) {
          return CheckFits({text.size(), 1}, kItemOverhead + chunk.cursor.size(), 0, s.max_message_bytes,
                           "an item of the list");
        }
        bytes += text.size();
        msg.add_items_json(std::move(text));
      } else {
        ProtoShape shape = ShapeOf(item);
        if (absl::Status st =
                CheckFits(shape, kItemOverhead + chunk.cursor.size(), 0, s.max_message_bytes, "an item of the list");
            !st.ok()) {
          return st;
        }
        if (absl::Status st = JsonToStruct(item, msg.add_items()); !st.ok()) return st;
        bytes += shape.bytes;
      }
      if (bytes >= s.split_bytes) {
        messages.emplace_back();
        bytes = 0;
      }
    }
    if (messages.size() > 1 && messages.back().items_size() + messages.back().items_json_size() == 0) {
      messages.pop_back();
    }
    messages.back().set_cursor(chunk.cursor);
    absl::MutexLock lock(&s.mu);
    for (v1::GetAllResponse& m : messages) {
      s.sent += m.items_size() + m.items_json_size();
      m.set_items_sent(s.sent);
      m.set_http_requests(http_requests);
      out->push_back(std::move(m));
    }
    return absl::OkStatus();
  }

  std::shared_ptr<Stream> stream_;
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
                           options_.max_message_bytes, stream_counters_);
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
  oauth_->ListPortals(
      [response, add_webhooks, done = std::move(done)](absl::StatusOr<std::vector<storage::PortalRecord>> rows) {
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
