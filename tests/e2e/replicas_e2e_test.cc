// Two bitrix24-service processes sharing one PostgreSQL token store: one
// refresh per expiry, never an invalid_grant.
#include <gtest/gtest.h>

#include <thread>

#include "client-sdk/cpp/client.h"
#include "tests/testing/emulator/emulator.h"
#include "tests/testing/service_process.h"

namespace b24 {
namespace {

using testing::Emulator;
using testing::ServiceProcess;
namespace v1 = bitrix24::v1;

constexpr char kClientId[] = "local.0a1b2c3d4e5f67.87654321";
constexpr char kClientSecret[] = "replicaSecretReplicaSecretReplicaSecretReplica12";

TEST(ReplicasE2eTest, SharedPostgresStoreRefreshesOncePerExpiry) {
  const char* pg = std::getenv("B24_TEST_POSTGRES");
  if (!pg) GTEST_SKIP() << "B24_TEST_POSTGRES is not set (tests/databases.sh sets it)";
  RealClock clock;
  Emulator emulator(clock);
  ASSERT_TRUE(emulator.Start().ok());
  emulator.RegisterApp({kClientId, kClientSecret});
  testing::PortalOptions po;
  po.seed.deals = 10;
  po.rate_limit.enabled = false;
  auto portal = emulator.AddPortal(po);
  ASSERT_TRUE(portal.ok());

  std::vector<std::string> flags = {std::string("--store.url=") + pg,
                                    "--store.table=b24_replicas_" + std::to_string(getpid()),
                                    "--security.allow_loopback=true", "--security.allow_http=true",
                                    // the emulator portal runs without a bucket here; don't pace 400 calls at 2/s
                                    "--limits.burst=1000", "--limits.drain_per_second=1000"};
  std::vector<std::string> init = {"schema", "init"};
  init.insert(init.end(), flags.begin(), flags.end());
  auto schema = testing::RunProgram(B24_SERVICE_BINARY, init);
  ASSERT_EQ(schema.exit_code, 0) << schema.out << schema.err;
  auto a = ServiceProcess::Start(B24_SERVICE_BINARY, flags);
  auto b = ServiceProcess::Start(B24_SERVICE_BINARY, flags);
  ASSERT_TRUE(a.ok() && b.ok());

  // Install through the Install RPC with the ONAPPINSTALL event Bitrix24 would send.
  auto inst = emulator.Install(portal->id, kClientId);
  ASSERT_TRUE(inst.ok());
  v1::InstallRequest install;
  auto& f = *install.mutable_onappinstall()->mutable_fields();
  f["event"] = "ONAPPINSTALL";
  f["auth[access_token]"] = inst->access_token;
  f["auth[refresh_token]"] = inst->refresh_token;
  f["auth[expires_in]"] = "3600";
  f["auth[member_id]"] = inst->member_id;
  f["auth[domain]"] = inst->domain;
  f["auth[client_endpoint]"] = inst->client_endpoint;
  f["auth[server_endpoint]"] = inst->server_endpoint;
  f["auth[application_token]"] = inst->application_token;
  install.mutable_app()->set_client_id(kClientId);
  install.mutable_app()->set_client_secret(kClientSecret);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::InstallResponse response;
    grpc::Status s = client::Client::Insecure((*a)->target()).stub().Install(&ctx, install, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.member_id(), inst->member_id);
  }

  v1::PortalRef ref;
  ref.set_member_id(inst->member_id);
  for (int round = 1; round <= 2; ++round) {
    emulator.ExpireAccessTokens(portal->id);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 40; ++t) {
      threads.emplace_back([&, t] {
        auto c = client::Client::Insecure((t % 2 ? *a : *b)->target(), absl::Seconds(30));
        for (int i = 0; i < 5; ++i) {
          auto out = c.Call(ref, "crm.deal.get", R"({"id": 1})");
          if (!out.ok()) {
            ++failures;
            ADD_FAILURE() << out.status();
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    auto stats = emulator.Stats();
    EXPECT_EQ(stats.oauth_refresh_requests, round) << "one refresh per expiry across both replicas";
    EXPECT_EQ(stats.oauth_invalid_grant, 0);
  }
  EXPECT_EQ((*a)->Stop(), 0);
  EXPECT_EQ((*b)->Stop(), 0);
}

}  // namespace
}  // namespace b24
