// Bitrix24ServiceImpl: the gRPC callback service. It resolves the portal,
// converts protobuf ↔ JSON, and hands the work to the rest client; every
// absl::Status becomes a grpc::Status in convert.cc and nowhere else.
//
// Handlers never block a gRPC thread: they start asynchronous work and finish
// the reactor from its callback. The caller's deadline becomes the deadline
// of every upstream request made for the call.
#pragma once

#include <atomic>

#include "bitrix24/v1/bitrix24.grpc.pb.h"
#include "service/auth/install.h"
#include "service/auth/oauth.h"
#include "service/auth/portal_directory.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/rest/batch.h"
#include "service/rest/client.h"
#include "service/rest/list_export.h"

namespace b24::grpcapi {

class Bitrix24ServiceImpl final : public bitrix24::v1::Bitrix24Service::CallbackService {
 public:
  // `oauth` and `installer` may be null (no token store): OAuth RPCs then fail
  // with FAILED_PRECONDITION.
  Bitrix24ServiceImpl(rest::RestClient& rest, auth::PortalDirectory& portals, auth::OAuthManager* oauth,
                      auth::Installer* installer, Clock& clock, Logger& log);

  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, const bitrix24::v1::CallRequest* request,
                                 bitrix24::v1::CallResponse* response) override;
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* ctx, const bitrix24::v1::BatchRequest* request,
                                  bitrix24::v1::BatchResponse* response) override;
  grpc::ServerWriteReactor<bitrix24::v1::GetAllResponse>* GetAll(
      grpc::CallbackServerContext* ctx, const bitrix24::v1::GetAllRequest* request) override;
  grpc::ServerUnaryReactor* Install(grpc::CallbackServerContext* ctx, const bitrix24::v1::InstallRequest* request,
                                    bitrix24::v1::InstallResponse* response) override;
  grpc::ServerUnaryReactor* ListPortals(grpc::CallbackServerContext* ctx,
                                        const bitrix24::v1::ListPortalsRequest* request,
                                        bitrix24::v1::ListPortalsResponse* response) override;
  grpc::ServerUnaryReactor* RemovePortal(grpc::CallbackServerContext* ctx,
                                         const bitrix24::v1::RemovePortalRequest* request,
                                         bitrix24::v1::RemovePortalResponse* response) override;

 private:
  absl::StatusOr<rest::Portal> Resolve(grpc::CallbackServerContext* ctx, const bitrix24::v1::PortalRef& ref);
  absl::Time Deadline(grpc::CallbackServerContext* ctx);

  rest::RestClient& rest_;
  rest::BatchRunner batch_;
  auth::PortalDirectory& portals_;
  auth::OAuthManager* oauth_;
  auth::Installer* installer_;
  Clock& clock_;
  Logger& log_;
};

}  // namespace b24::grpcapi
