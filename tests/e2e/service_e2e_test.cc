// A real gRPC client → bitrix24-service (its own process) → real HTTP → the
// portal emulator.
#include <mutex>
#include <vector>
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
    auto svc =
        ServiceProcess::Start(B24_SERVICE_BINARY, {"--security.allow_loopback=true", "--security.allow_http=true",
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
  EXPECT_EQ(j["total"], 20);  // the client prints the envelope's int64s as numbers
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

TEST_F(ServiceE2eTest, BatchRunsNamedCommandsInOrder) {
  auto out = Client().Batch(Webhook(),
                            R"([{"key": "z", "method": "crm.deal.get", "params": {"id": 5}},
                                {"key": "a", "method": "crm.deal.get", "params": {"id": "$result[z][ID]"}},
                                {"key": "missing", "method": "crm.deal.get", "params": {"id": 999999}}])",
                            false);
  ASSERT_TRUE(out.ok()) << out.status();
  auto j = nlohmann::json::parse(*out);
  ASSERT_EQ(j["results"].size(), 3u);
  EXPECT_EQ(j["results"][0]["key"], "z");
  EXPECT_EQ(j["results"][1]["result"]["ID"], "5");
  EXPECT_FALSE(j["results"][2]["error"]["description"].get<std::string>().empty());
  EXPECT_EQ(j["http_requests"], 1);
}

TEST_F(ServiceE2eTest, GetAllStreamsEveryItemAndResumesFromACursor) {
  auto channel = grpc::CreateChannel(service_->target(), grpc::InsecureChannelCredentials());
  auto stub = v1::Bitrix24Service::NewStub(channel);
  testing::PortalOptions po;
  po.seed.deals = 6'000;
  po.webhooks.push_back({1, "bigcode"});
  auto big = emulator_->AddPortal(po);
  ASSERT_TRUE(big.ok());
  auto run = [&](const std::string& cursor, v1::GetAllRequest::Format format, int64_t stop_after,
                 std::vector<int64_t>* ids, std::string* last_cursor) {
    v1::GetAllRequest request;
    request.mutable_portal()->set_webhook_url(big->WebhookUrl(1, "bigcode"));
    request.set_method("crm.deal.list");
    request.set_format(format);
    request.set_cursor(cursor);
    request.set_max_parallel_ranges(1);
    (*request.mutable_params()->mutable_fields())["select"].mutable_list_value()->add_values()->set_string_value("ID");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = stub->GetAll(&ctx, request);
    v1::GetAllResponse msg;
    while (reader->Read(&msg)) {
      for (const auto& item : msg.items()) ids->push_back(std::stoll(item.fields().at("ID").string_value()));
      for (const auto& item : msg.items_json())
        ids->push_back(std::stoll(nlohmann::json::parse(item)["ID"].get<std::string>()));
      if (!msg.cursor().empty()) *last_cursor = msg.cursor();
      if (stop_after && static_cast<int64_t>(ids->size()) >= stop_after) {
        ctx.TryCancel();
        break;
      }
    }
    return reader->Finish();
  };
  std::vector<int64_t> ids;
  std::string cursor;
  EXPECT_TRUE(run("", v1::GetAllRequest::FORMAT_STRUCT, 0, &ids, &cursor).ok());
  ASSERT_EQ(ids.size(), 6'000u);
  for (int64_t i = 0; i < 6'000; ++i) ASSERT_EQ(ids[i], i + 1);
  // Interrupted after the first chunk (2,500 items), then resumed from its cursor.
  std::vector<int64_t> first, rest;
  std::string resume;
  run("", v1::GetAllRequest::FORMAT_JSON, 1, &first, &resume);
  ASSERT_EQ(first.size(), 2'500u);
  EXPECT_TRUE(run(resume, v1::GetAllRequest::FORMAT_JSON, 0, &rest, &cursor).ok());
  EXPECT_EQ(rest.size(), 3'500u);
  first.insert(first.end(), rest.begin(), rest.end());
  std::sort(first.begin(), first.end());
  EXPECT_EQ(std::unique(first.begin(), first.end()) - first.begin(), 6'000);
  // A cursor of a finished export ends at once.
  std::vector<int64_t> none;
  EXPECT_TRUE(run(cursor, v1::GetAllRequest::FORMAT_JSON, 0, &none, &resume).ok());
  EXPECT_TRUE(none.empty());
}

TEST_F(ServiceE2eTest, GetAllRefusesWhatIsNotAnExportableList) {
  std::vector<std::string> items;
  auto start = Client().GetAll(
      Webhook(), "crm.deal.list", R"({"start": 100})", 0, [&](const std::string& item) { items.push_back(item); },
      absl::Seconds(20));
  EXPECT_EQ(start.status().code(), absl::StatusCode::kInvalidArgument) << start.status();
  auto not_a_list = Client().GetAll(
      Webhook(), "profile", "", 0, [&](const std::string& item) { items.push_back(item); }, absl::Seconds(20));
  EXPECT_EQ(not_a_list.status().code(), absl::StatusCode::kInvalidArgument) << not_a_list.status();
  EXPECT_TRUE(items.empty());
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
  // By the service's name too.
  grpc::ClientContext named_ctx;
  named_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  request.set_service("bitrix24.v1.Bitrix24Service");
  ASSERT_TRUE(health->Check(&named_ctx, request, &response).ok());
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
  // Errors after the logger is open are log lines: on stdout (log.file: in the file).
  EXPECT_NE(webhook.out.find("ERROR bad configuration"), std::string::npos) << webhook.out;
  EXPECT_NE(webhook.out.find("webhooks.crm"), std::string::npos) << webhook.out;
  auto store = testing::RunProgram(B24_SERVICE_BINARY,
                                   {"--store.url=postgresql://host=127.0.0.1 port=1 dbname=x", "--listen=127.0.0.1:0"});
  EXPECT_EQ(store.exit_code, 2);
  EXPECT_NE(store.out.find("cannot open the token store"), std::string::npos) << store.out;
}

TEST_F(ServiceE2eTest, SigtermDrainsCallsInFlight) {
  // A health watcher (as a load balancer or kubelet would keep) sees NOT_SERVING
  // as soon as the drain starts, while the call in flight still completes.
  auto channel = grpc::CreateChannel(service_->target(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext watch_ctx;
  grpc::health::v1::HealthCheckRequest watch_request;
  watch_request.set_service("bitrix24.v1.Bitrix24Service");
  std::mutex mu;
  std::vector<int> statuses;
  auto reader = health->Watch(&watch_ctx, watch_request);
  std::thread watcher([&] {
    grpc::health::v1::HealthCheckResponse r;
    while (reader->Read(&r)) {
      std::lock_guard<std::mutex> lock(mu);
      statuses.push_back(r.status());
    }
  });
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!statuses.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  emulator_->InjectFault(portal_.id, Fault::Slow(absl::Milliseconds(800), "profile"));
  absl::StatusOr<std::string> out;
  std::thread call([&] { out = Client().Call(Webhook(), "profile", ""); });
  while (emulator_->PendingFaults() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(service_->Stop(), 0);
  call.join();
  EXPECT_TRUE(out.ok()) << out.status();
  watch_ctx.TryCancel();
  watcher.join();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(statuses.size(), 2u);
  EXPECT_EQ(statuses.front(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(statuses.back(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  service_.reset();
}

}  // namespace
}  // namespace b24
