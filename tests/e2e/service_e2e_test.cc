// A real gRPC client → bitrix24-service (its own process) → real HTTP → the
// portal emulator.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "client-sdk/cpp/client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/testing/emulator/emulator.h"
#include "tests/testing/service_process.h"

namespace b24 {
namespace {

using testing::Emulator;
using testing::Fault;
using testing::ServiceProcess;
namespace v1 = bitrix24::v1;

class ServiceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emulator_ = std::make_unique<Emulator>(clock_);
    ASSERT_TRUE(emulator_->Start().ok());
    testing::PortalOptions po;
    po.seed.deals = 120;
    po.webhooks.push_back({1, "e2ecode"});
    auto portal = emulator_->AddPortal(po);
    ASSERT_TRUE(portal.ok()) << portal.status();
    portal_ = *portal;
    webhook_ = portal_.WebhookUrl(1, "e2ecode");
    db_ = ::testing::TempDir() + "/e2e-" + std::to_string(getpid()) + ".db";
    auto svc = ServiceProcess::Start(
        B24_SERVICE_BINARY, {"--security.allow_loopback=true", "--security.allow_http=true",
                             "--store.url=sqlite3://db=" + db_, "--webhooks.crm=" + webhook_,
                             "--retry.base_delay=10ms", "--shutdown_grace=10s"});
    ASSERT_TRUE(svc.ok()) << svc.status();
    service_ = *std::move(svc);
  }

  void TearDown() override {
    if (service_) {
      std::string log = service_->Log();
      EXPECT_EQ(service_->Stop(), 0) << log;
    }
    std::remove(db_.c_str());
  }

  client::Client Client(absl::Duration timeout = absl::Seconds(20)) {
    return client::Client::Insecure(service_->target(), timeout);
  }

  v1::PortalRef Webhook() {
    v1::PortalRef ref;
    ref.set_webhook_url(webhook_);
    return ref;
  }

  RealClock clock_;
  std::unique_ptr<Emulator> emulator_;
  testing::PortalInfo portal_;
  std::string webhook_, db_;
  std::unique_ptr<ServiceProcess> service_;
};

TEST_F(ServiceE2eTest, CallReturnsTheEnvelope) {
  auto out = Client().Call(Webhook(), "crm.deal.list", R"({"filter":{">ID":100},"select":["ID","TITLE"]})");
  ASSERT_TRUE(out.ok()) << out.status();
  auto j = nlohmann::json::parse(*out);
  ASSERT_EQ(j["result"].size(), 20u);
  EXPECT_EQ(j["result"][0]["ID"], "101");
  EXPECT_EQ(j["total"], "20");  // proto3 JSON prints int64 as a string
  EXPECT_TRUE(j.contains("time"));
  // By configured name, the secret stays in the gateway's configuration.
  v1::PortalRef named;
  named.set_name("crm");
  auto by_name = Client().Call(named, "crm.deal.get", R"({"id": 7})");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(nlohmann::json::parse(*by_name)["result"]["ID"], "7");
}

TEST_F(ServiceE2eTest, ABitrixErrorKeepsItsCode) {
  emulator_->ConfigurePortal(portal_.id, [](testing::PortalOptions& o) { o.denied_methods.insert("crm.deal.add"); });
  v1::CallRequest request;
  *request.mutable_portal() = Webhook();
  request.set_method("crm.deal.add");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::CallResponse response;
  grpc::Status status = Client().stub().Call(&ctx, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto info = client::ErrorInfoOf(status);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->reason, "ACCESS_DENIED");
  EXPECT_EQ(info->domain, "bitrix24");
  EXPECT_EQ(info->metadata["http_status"], "403");
  EXPECT_FALSE(info->metadata["error_description"].empty());
}

TEST_F(ServiceE2eTest, ANonJsonBadGatewayIsUnavailableAfterBoundedRetries) {
  emulator_->InjectFault(portal_.id, Fault::Html(502).Times(4));
  v1::CallRequest request;
  *request.mutable_portal() = Webhook();
  request.set_method("profile");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::CallResponse response;
  grpc::Status status = Client().stub().Call(&ctx, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  auto info = client::ErrorInfoOf(status);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->reason, "UPSTREAM_BAD_RESPONSE");
  EXPECT_EQ(info->metadata["http_status"], "502");
  EXPECT_EQ(emulator_->Stats().portals[portal_.id].http_requests, 4);  // retry.max_attempts
}

TEST_F(ServiceE2eTest, TheCallersDeadlineBoundsTheUpstreamRequest) {
  emulator_->InjectFault(portal_.id, Fault::Slow(absl::Seconds(3), "profile"));
  auto start = absl::Now();
  auto out = Client(absl::Milliseconds(400)).Call(Webhook(), "profile", "");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded) << out.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(ServiceE2eTest, ADisallowedHostIsRefusedBeforeAnyConnection) {
  auto out = Client().Call(client::ParsePortal("https://evil.example.com/rest/1/x/"), "profile", "");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("HOST_NOT_ALLOWED"), std::string::npos) << out.status();
  // A second gateway without loopback allowed refuses the (reachable) emulator.
  auto strict = ServiceProcess::Start(B24_SERVICE_BINARY, {"--store.url=sqlite3://db=" + db_ + ".strict"});
  ASSERT_TRUE(strict.ok()) << strict.status();
  auto refused = client::Client::Insecure((*strict)->target()).Call(Webhook(), "profile", "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*strict)->Stop(), 0);
  std::remove((db_ + ".strict").c_str());
  EXPECT_EQ(emulator_->Stats().portals[portal_.id].http_requests, 0);
}

TEST_F(ServiceE2eTest, B24ctlCallsThroughTheService) {
  auto r = testing::RunProgram(B24CTL_BINARY,
                               {"--target=" + service_->target(), "call", "crm", "crm.deal.get", R"({"id":3})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["result"]["ID"], "3");
  auto bad = testing::RunProgram(B24CTL_BINARY, {"--target=" + service_->target(), "call", "nosuch", "profile"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("NOT_FOUND"), std::string::npos) << bad.err;
}

TEST_F(ServiceE2eTest, ServesHealthAndReflection) {
  auto channel = grpc::CreateChannel(service_->target(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&ctx, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  namespace refl = grpc::reflection::v1alpha;
  auto reflection = refl::ServerReflection::NewStub(channel);
  grpc::ClientContext rctx;
  rctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = reflection->ServerReflectionInfo(&rctx);
  refl::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  stream->WritesDone();
  refl::ServerReflectionResponse listed;
  ASSERT_TRUE(stream->Read(&listed));
  std::vector<std::string> services;
  for (const auto& s : listed.list_services_response().service()) services.push_back(s.name());
  EXPECT_NE(std::find(services.begin(), services.end(), "bitrix24.v1.Bitrix24Service"), services.end());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST(ServiceStartupTest, BadConfigurationStopsWithAClearMessage) {
  auto typo = testing::RunProgram(B24_SERVICE_BINARY, {"--lissten=127.0.0.1:0"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("unknown configuration key 'lissten'"), std::string::npos) << typo.err;
  auto webhook = testing::RunProgram(B24_SERVICE_BINARY,
                                     {"--webhooks.crm=https://evil.example.com/rest/1/x/", "--listen=127.0.0.1:0",
                                      "--store.url=sqlite3://db=" + ::testing::TempDir() + "/bad-config.db"});
  EXPECT_EQ(webhook.exit_code, 2);
  EXPECT_NE(webhook.err.find("webhooks.crm"), std::string::npos) << webhook.err;
  auto store = testing::RunProgram(B24_SERVICE_BINARY,
                                   {"--store.url=postgresql://host=127.0.0.1 port=1 dbname=x", "--listen=127.0.0.1:0"});
  EXPECT_EQ(store.exit_code, 2);
  EXPECT_NE(store.err.find("cannot open the token store"), std::string::npos) << store.err;
}

TEST_F(ServiceE2eTest, SigtermDrainsCallsInFlight) {
  emulator_->InjectFault(portal_.id, Fault::Slow(absl::Milliseconds(800), "profile"));
  absl::StatusOr<std::string> out;
  std::thread call([&] { out = Client().Call(Webhook(), "profile", ""); });
  while (emulator_->PendingFaults() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(service_->Stop(), 0);
  call.join();
  EXPECT_TRUE(out.ok()) << out.status();
  service_.reset();
}

}  // namespace
}  // namespace b24
