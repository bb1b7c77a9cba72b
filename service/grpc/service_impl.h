// Bitrix24ServiceImpl: the gRPC callback service. It resolves the portal,
// converts protobuf ↔ JSON, and hands the work to the rest client; every
// absl::Status becomes a grpc::Status in convert.cc and nowhere else.
//
// Handlers never block a gRPC thread: they start asynchronous work and finish
// the reactor from its callback. The caller's deadline becomes the deadline
// of every upstream request made for the call.
//
// Methods are registered raw (bytes in, bytes out): requests are decoded by
// DecodeRequest (convert.h) so that undecodable ones get a real status.
#pragma once

#include <atomic>
#include <functional>

#include "bitrix24/v1/bitrix24.grpc.pb.h"
#include "service/grpc/service_options.h"
#include "service/app/install.h"
#include "service/auth/oauth.h"
#include "service/auth/portal_directory.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/rest/batch.h"
#include "service/rest/client.h"
#include "service/rest/list_export.h"

namespace b24::grpcapi {

// The full name of the service, as gRPC health and reflection know it.
inline constexpr char kServiceName[] = "bitrix24.v1.Bitrix24Service";

namespace internal {
using Service = bitrix24::v1::Bitrix24Service;
// Every method takes raw bytes: the service decodes requests itself, so a
// request that does not decode gets INVALID_ARGUMENT with a reason instead of
// gRPC's UNIMPLEMENTED with no message (which says "no such method").
using RawService = Service::WithRawCallbackMethod_Call<
    Service::WithRawCallbackMethod_Batch<Service::WithRawCallbackMethod_GetAll<Service::WithRawCallbackMethod_Install<
        Service::WithRawCallbackMethod_ListPortals<Service::WithRawCallbackMethod_RemovePortal<Service::Service>>>>>>;
}  // namespace internal

// Totals of every GetAll stream, for metrics.
struct StreamCounters {
  std::atomic<int64_t> items{0};  // items sent to callers
  std::atomic<int64_t> bytes{0};  // bytes of the messages that carried them
};

class Bitrix24ServiceImpl final : public internal::RawService {
 public:
  using Done = std::function<void(absl::Status)>;

  // `oauth` and `installer` may be null (no token store): OAuth RPCs then fail
  // with FAILED_PRECONDITION. `cursors` signs GetAll cursors.
  Bitrix24ServiceImpl(rest::RestClient& rest, const rest::ExportCursor& cursors, auth::PortalDirectory& portals,
                      auth::OAuthManager* oauth, app::Installer* installer, Clock& clock, Logger& log,
                      ServiceOptions options = {});

  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* GetAll(grpc::CallbackServerContext* ctx,
                                                     const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* Install(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListPortals(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RemovePortal(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;

  const StreamCounters& stream_counters() const { return *stream_counters_; }

 private:
  // Decodes the request, runs `handler`, encodes the response.
  template <class Request, class Response, class Handler>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in, grpc::ByteBuffer* out,
                                  Handler handler);

  void DoCall(grpc::CallbackServerContext* ctx, const bitrix24::v1::CallRequest& request,
              bitrix24::v1::CallResponse* response, Done done);
  void DoBatch(grpc::CallbackServerContext* ctx, const bitrix24::v1::BatchRequest& request,
               bitrix24::v1::BatchResponse* response, Done done);
  void DoInstall(grpc::CallbackServerContext* ctx, const bitrix24::v1::InstallRequest& request,
                 bitrix24::v1::InstallResponse* response, Done done);
  void DoListPortals(grpc::CallbackServerContext* ctx, const bitrix24::v1::ListPortalsRequest& request,
                     bitrix24::v1::ListPortalsResponse* response, Done done);
  void DoRemovePortal(grpc::CallbackServerContext* ctx, const bitrix24::v1::RemovePortalRequest& request,
                      bitrix24::v1::RemovePortalResponse* response, Done done);

  absl::StatusOr<rest::Portal> Resolve(grpc::CallbackServerContext* ctx, const bitrix24::v1::PortalRef& ref);
  absl::Time Deadline(grpc::CallbackServerContext* ctx);

  rest::RestClient& rest_;
  const rest::ExportCursor& cursors_;
  rest::BatchRunner batch_;
  auth::PortalDirectory& portals_;
  auth::OAuthManager* oauth_;
  app::Installer* installer_;
  Clock& clock_;
  ServiceOptions options_;
  std::shared_ptr<StreamCounters> stream_counters_ = std::make_shared<StreamCounters>();
};

}  // namespace b24::grpcapi
