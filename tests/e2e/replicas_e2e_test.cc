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

// Starts the emulator with one portal (10 deals) and the test app registered.
absl::StatusOr<testing::PortalInfo> StartPortalWithApp(Emulator& emulator, bool rate_limit) {
  if (absl::Status s = emulator.Start(); !s.ok()) return s;
  emulator.RegisterApp({kClientId, kClientSecret});
  testing::PortalOptions po;
  po.seed.deals = 10;
  po.rate_limit.enabled = rate_limit;
  return emulator.AddPortal(po);
}

v1::InstallRequest InstallFrom(const testing::Installation& inst) {
  v1::InstallRequest install;
  auto& f = *install.mutable_onappinstall()->mutable_fields();
  f["event"] = "ONAPPINSTALL";
  f["auth[access_token]"] = inst.access_token;
  f["auth[refresh_token]"] = inst.refresh_token;
  f["auth[expires_in]"] = "3600";
  f["auth[member_id]"] = inst.member_id;
  f["auth[domain]"] = inst.domain;
  f["auth[client_endpoint]"] = inst.client_endpoint;
  f["auth[server_endpoint]"] = inst.server_endpoint;
  f["auth[application_token]"] = inst.application_token;
  install.mutable_app()->set_client_id(kClientId);
  install.mutable_app()->set_client_secret(kClientSecret);
  return install;
}

grpc::Status InstallVia(const std::string& target, const v1::InstallRequest& install) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::InstallResponse response;
  return client::Client::Insecure(target).stub().Install(&ctx, install, &response);
}

TEST(ReplicasE2eTest, SharedPostgresStoreRefreshesOncePerExpiry) {
  const char* pg = std::getenv("B24_TEST_POSTGRES");
  if (!pg) GTEST_SKIP() << "B24_TEST_POSTGRES is not set (tests/databases.sh sets it)";
  RealClock clock;
  Emulator emulator(clock);
  auto portal = StartPortalWithApp(emulator, /*rate_limit=*/false);
  ASSERT_TRUE(portal.ok()) << portal.status();

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
  {
    grpc::Status s = InstallVia((*a)->target(), InstallFrom(*inst));
    ASSERT_TRUE(s.ok()) << s.error_message();
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

// The process dies after the OAuth server rotated the pair but before the new
// pair was written: the stored refresh token is dead. The row stays whole and
// the portal is clearly marked for reinstallation; a reinstall heals it.
TEST(ReplicasE2eTest, ARefreshInterruptedByAKillLeavesTheRowWholeAndMarked) {
  RealClock clock;
  Emulator emulator(clock);
  auto portal = StartPortalWithApp(emulator, /*rate_limit=*/true);
  ASSERT_TRUE(portal.ok()) << portal.status();
  std::string db = ::testing::TempDir() + "/killed-refresh-" + std::to_string(getpid()) + ".db";
  // A short lease: the killed process's claim on the refresh lapses quickly.
  std::vector<std::string> flags = {"--store.url=sqlite3://db=" + db, "--security.allow_loopback=true",
                                    "--security.allow_http=true", "--oauth.refresh_lease=2s"};
  auto a = ServiceProcess::Start(B24_SERVICE_BINARY, flags);
  ASSERT_TRUE(a.ok()) << a.status();
  auto inst = emulator.Install(portal->id, kClientId);
  ASSERT_TRUE(inst.ok());
  ASSERT_TRUE(InstallVia((*a)->target(), InstallFrom(*inst)).ok());

  // The OAuth server answers slowly; the gateway is killed while it waits.
  emulator.InjectFault(Emulator::kOAuthServer, testing::Fault::Slow(absl::Milliseconds(1500), "refresh_token"));
  emulator.ExpireAccessTokens(portal->id);
  v1::PortalRef ref;
  ref.set_member_id(inst->member_id);
  std::thread caller([&] { (void)client::Client::Insecure((*a)->target()).Call(ref, "crm.deal.get", R"({"id":1})"); });
  while (emulator.Stats().oauth_refresh_requests == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  (*a)->Kill();
  caller.join();
  // Let the OAuth server finish the refresh nobody will store (it answers after its delay).
  std::this_thread::sleep_for(std::chrono::milliseconds(1700));

  auto b = ServiceProcess::Start(B24_SERVICE_BINARY, flags);
  ASSERT_TRUE(b.ok()) << b.status();
  auto c = client::Client::Insecure((*b)->target());
  auto out = c.Call(ref, "crm.deal.get", R"({"id":1})");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition) << out.status();
  EXPECT_NE(out.status().message().find("must be reinstalled"), std::string::npos) << out.status();
  auto listed = c.ListPortals();
  ASSERT_TRUE(listed.ok()) << listed.status();
  bool found = false;
  for (const auto& p : listed->portals()) {
    if (p.id() != inst->member_id) continue;
    found = true;
    EXPECT_TRUE(p.needs_reinstall());
    EXPECT_EQ(p.domain(), inst->domain);
  }
  EXPECT_TRUE(found);
  // A new installation heals the portal.
  auto again = emulator.Install(portal->id, kClientId);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(InstallVia((*b)->target(), InstallFrom(*again)).ok());
  EXPECT_TRUE(c.Call(ref, "crm.deal.get", R"({"id":1})").ok());
  EXPECT_EQ((*b)->Stop(), 0);
  std::remove(db.c_str());
}

}  // namespace
}  // namespace b24
