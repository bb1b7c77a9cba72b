#include "service/grpc/service_impl.h"

#include "absl/strings/str_cat.h"
#include "service/common/status.h"
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

}  // namespace

Bitrix24ServiceImpl::Bitrix24ServiceImpl(rest::RestClient& rest, auth::PortalDirectory& portals, Clock& clock,
                                         Logger& log)
    : rest_(rest), portals_(portals), clock_(clock), log_(log) {}

absl::StatusOr<rest::Portal> Bitrix24ServiceImpl::Resolve(const v1::PortalRef& ref) {
  switch (ref.portal_case()) {
    case v1::PortalRef::kMemberId:
      return portals_.ByMemberId(ref.member_id());
    case v1::PortalRef::kWebhookUrl:
      return portals_.ByWebhookUrl(ref.webhook_url());
    case v1::PortalRef::kName:
      return portals_.ByName(ref.name());
    default:
      return GatewayError(absl::StatusCode::kInvalidArgument, "MISSING_PORTAL",
                          "the request names no portal: set portal.member_id, portal.webhook_url or portal.name");
  }
}

absl::Time Bitrix24ServiceImpl::Deadline(grpc::CallbackServerContext* ctx) {
  auto d = ctx->deadline();
  if (d == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  // Measure what is left on the wall clock and apply it to our clock.
  return clock_.Now() + absl::FromChrono(d - std::chrono::system_clock::now());
}

grpc::ServerUnaryReactor* Bitrix24ServiceImpl::Call(grpc::CallbackServerContext* ctx, const v1::CallRequest* request,
                                                    v1::CallResponse* response) {
  absl::StatusOr<rest::Portal> portal = Resolve(request->portal());
  if (!portal.ok()) return FinishNow(ctx, portal.status());
  absl::StatusOr<nlohmann::json> params = StructToJson(request->params());
  if (!params.ok()) return FinishNow(ctx, params.status());
  auto* reactor = ctx->DefaultReactor();
  rest_.Call(*portal, request->method(), *params, Deadline(ctx),
             [reactor, response](absl::StatusOr<rest::Envelope> env) {
               if (!env.ok()) {
                 reactor->Finish(ToGrpcStatus(env.status()));
                 return;
               }
               if (absl::Status s = JsonToValue(env->result, response->mutable_result()); !s.ok()) {
                 reactor->Finish(ToGrpcStatus(s));
                 return;
               }
               if (env->total) response->set_total(*env->total);
               if (env->next) response->set_next(*env->next);
               FillTime(env->time, response->mutable_time());
               reactor->Finish(grpc::Status::OK);
             });
  return reactor;
}

grpc::ServerUnaryReactor* Bitrix24ServiceImpl::Batch(grpc::CallbackServerContext* ctx, const v1::BatchRequest*,
                                                     v1::BatchResponse*) {
  return FinishNow(ctx, absl::UnimplementedError("Batch is not available yet"));
}

grpc::ServerWriteReactor<v1::GetAllResponse>* Bitrix24ServiceImpl::GetAll(grpc::CallbackServerContext* ctx,
                                                                          const v1::GetAllRequest*) {
  class Fail : public grpc::ServerWriteReactor<v1::GetAllResponse> {
   public:
    Fail() { Finish(ToGrpcStatus(absl::UnimplementedError("GetAll is not available yet"))); }
    void OnDone() override { delete this; }
  };
  return new Fail();
}

grpc::ServerUnaryReactor* Bitrix24ServiceImpl::Install(grpc::CallbackServerContext* ctx, const v1::InstallRequest*,
                                                       v1::InstallResponse*) {
  return FinishNow(ctx, absl::UnimplementedError("Install is not available yet"));
}

grpc::ServerUnaryReactor* Bitrix24ServiceImpl::ListPortals(grpc::CallbackServerContext* ctx,
                                                           const v1::ListPortalsRequest*,
                                                           v1::ListPortalsResponse* response) {
  for (const auto& [name, url] : portals_.named_webhooks()) {
    auto p = portals_.ByName(name);
    auto* info = response->add_portals();
    info->set_id(name);
    info->set_kind(v1::PortalInfo::KIND_WEBHOOK);
    if (p.ok()) info->set_domain(p->host);
  }
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* Bitrix24ServiceImpl::RemovePortal(grpc::CallbackServerContext* ctx,
                                                            const v1::RemovePortalRequest*,
                                                            v1::RemovePortalResponse*) {
  return FinishNow(ctx, absl::UnimplementedError("RemovePortal is not available yet"));
}

}  // namespace b24::grpcapi
