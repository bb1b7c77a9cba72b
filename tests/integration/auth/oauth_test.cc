// OAuth portals end to end in-process: rest client → executor → curl → the
// emulator's portal and OAuth server, tokens in a real SQLite store.
#include "service/auth/oauth.h"

#include <gtest/gtest.h>

#include "service/app/install.h"
#include "service/common/status.h"
#include "storage/soci_token_store.h"
#include "tests/testing/stack.h"

namespace b24::auth {
namespace {

using testing::Fault;
using testing::Stack;

constexpr char kClientId[] = "local.5f1e2d3c4b5a69.12345678";
constexpr char kClientSecret[] = "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t";

class OAuthTest : public ::testing::Test {
 protected:
  OAuthTest() {
    stack_.emulator().RegisterApp({kClientId, kClientSecret});
    testing::PortalOptions po;
    po.seed.deals = 10;
    po.rate_limit.enabled = false;
    auto info = stack_.emulator().AddPortal(po);
    EXPECT_TRUE(info.ok());
    portal_ = *info;
    db_ = ::testing::TempDir() + "/oauth-" + std::to_string(getpid()) + ".db";
    std::remove(db_.c_str());
    storage::StoreOptions so;
    so.connection = "sqlite3://db=" + db_;
    so.create_if_missing = true;
    auto store = storage::SociTokenStore::Open(so);
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    OAuthOptions oo;
    oo.owner = "test";
    oauth_ = std::make_unique<OAuthManager>(*store_, stack_.transport(), stack_.policy(), stack_.clock(),
                                            stack_.logger(), oo);
  }
  ~OAuthTest() override { std::remove(db_.c_str()); }

  // Installs the app through the Installer, as the Install RPC does.
  void Install() {
    auto inst = stack_.emulator().Install(portal_.id, kClientId);
    ASSERT_TRUE(inst.ok()) << inst.status();
    app::InstallInput in;
    in.kind = app::InstallInput::Kind::kOnAppInstall;
    in.client_id = kClientId;
    in.client_secret = kClientSecret;
    in.fields = {{"event", "ONAPPINSTALL"},
                 {"auth[access_token]", inst->access_token},
                 {"auth[refresh_token]", inst->refresh_token},
                 {"auth[expires]", std::to_string(absl::ToUnixSeconds(inst->expires))},
                 {"auth[expires_in]", "3600"},
                 {"auth[member_id]", inst->member_id},
                 {"auth[domain]", inst->domain},
                 {"auth[client_endpoint]", inst->client_endpoint},
                 {"auth[server_endpoint]", inst->server_endpoint},
                 {"auth[application_token]", inst->application_token}};
    app::Installer installer(*oauth_, stack_.rest(), stack_.clock());
    std::optional<absl::StatusOr<app::InstallOutput>> out;
    std::mutex mu;
    installer.Install(in, absl::InfiniteFuture(), [&](absl::StatusOr<app::InstallOutput> o) {
      std::lock_guard<std::mutex> lock(mu);
      out = std::move(o);
    });
    ASSERT_TRUE(stack_.RunUntil([&] {
      std::lock_guard<std::mutex> lock(mu);
      return out.has_value();
    }));
    ASSERT_TRUE(out->ok()) << out->status();
    member_id_ = (*out)->member_id;
  }

  // Sends `n` concurrent calls; returns their statuses.
  std::vector<absl::Status> CallMany(int n, const std::string& method = "crm.deal.get") {
    auto portal = oauth_->Find(member_id_);
    if (!portal.ok()) return std::vector<absl::Status>(n, portal.status());
    std::mutex mu;
    std::vector<absl::Status> results;
    for (int i = 0; i < n; ++i) {
      stack_.rest().Call(*portal, method, {{"id", 1 + i % 10}}, absl::InfiniteFuture(),
                         [&](absl::StatusOr<rest::Envelope> env) {
                           std::lock_guard<std::mutex> lock(mu);
                           results.push_back(env.status());
                         });
    }
    EXPECT_TRUE(stack_.RunUntil([&] {
      std::lock_guard<std::mutex> lock(mu);
      return static_cast<int>(results.size()) == n;
    }));
    std::lock_guard<std::mutex> lock(mu);
    return results;
  }

  Stack stack_{{}, {}, LogLevel::kDebug};  // every request and response logged
  testing::PortalInfo portal_;
  std::string db_, member_id_;
  std::unique_ptr<storage::SociTokenStore> store_;
  std::unique_ptr<OAuthManager> oauth_;
};

TEST_F(OAuthTest, InstallStoresAVerifiedPortal) {
  Install();
  auto row = store_->Get(member_id_);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(row->client_id, kClientId);
  EXPECT_EQ(row->domain, portal_.domain);
  for (const auto& s : CallMany(3)) EXPECT_TRUE(s.ok()) << s;
}

TEST_F(OAuthTest, TwoHundredCallsOnAnExpiredTokenCauseOneRefresh) {
  Install();
  stack_.emulator().ExpireAccessTokens(portal_.id);
  stack_.emulator().ResetStats();
  for (const auto& s : CallMany(200)) EXPECT_TRUE(s.ok()) << s;
  auto stats = stack_.emulator().Stats();
  EXPECT_EQ(stats.oauth_refresh_requests, 1);
  EXPECT_EQ(stats.oauth_invalid_grant, 0);
  // The new pair is in the store for the next process.
  auto row = store_->Get(member_id_);
  ASSERT_TRUE(row.ok());
  EXPECT_GT(row->expires_at, absl::ToUnixSeconds(stack_.clock().Now()));
}

TEST_F(OAuthTest, TokensAreRefreshedBeforeTheyExpire) {
  Install();
  stack_.clock().Advance(absl::Minutes(56));  // inside the 5-minute refresh-ahead window
  stack_.emulator().ResetStats();
  for (const auto& s : CallMany(20)) EXPECT_TRUE(s.ok()) << s;
  auto stats = stack_.emulator().Stats();
  EXPECT_EQ(stats.oauth_refresh_requests, 1);
  for (const auto& r : stats.rejected) EXPECT_NE(r.error, "expired_token") << "the portal saw an expired token";
}

TEST_F(OAuthTest, ARejectedRefreshMarksThePortalForReinstallAndKeepsTheRow) {
  Install();
  // The OAuth server rotates the pair but the answer never arrives (as if this
  // process died after the server answered): the stored refresh token is dead.
  stack_.emulator().InjectFault(testing::Emulator::kOAuthServer, Fault::DropAfterExecute("refresh_token"));
  stack_.emulator().ExpireAccessTokens(portal_.id);
  auto first = CallMany(1);
  EXPECT_EQ(first[0].code(), absl::StatusCode::kUnavailable) << first[0];
  // Within oauth.failure_cooldown callers get the same failure at once.
  for (const auto& s : CallMany(3)) EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(stack_.emulator().Stats().oauth_refresh_requests, 1);
  stack_.clock().Advance(OAuthOptions().failure_cooldown + absl::Seconds(1));
  auto second = CallMany(5);
  for (const auto& s : second) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("must be reinstalled"), std::string::npos) << s;
  }
  EXPECT_EQ(stack_.emulator().Stats().oauth_refresh_requests, 2);  // no hammering with a dead token
  auto row = store_->Get(member_id_);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_TRUE(row->needs_reinstall);
  EXPECT_FALSE(row->refresh_token.empty());
  // A new installation heals it.
  Install();
  for (const auto& s : CallMany(3)) EXPECT_TRUE(s.ok()) << s;
}

TEST_F(OAuthTest, AnEnterprisePlanIsDetectedFromAppInfo) {
  stack_.emulator().ConfigurePortal(portal_.id, [](testing::PortalOptions& o) { o.license_family = "ent"; });
  Install();
  rest::RestClientOptions ro;
  ro.detect_plan = true;
  rest::RestClient detecting(stack_.executor(), stack_.policy(), stack_.clock(), stack_.logger(), ro);
  auto portal = oauth_->Find(member_id_);
  ASSERT_TRUE(portal.ok());
  EXPECT_EQ(stack_.executor().EffectiveDrain(portal->host), 2.0);
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i) {
    detecting.Call(*portal, "crm.deal.get", {{"id", 1}}, absl::InfiniteFuture(),
                   [&](absl::StatusOr<rest::Envelope> env) {
                     EXPECT_TRUE(env.ok()) << env.status();
                     ++done;
                   });
  }
  ASSERT_TRUE(stack_.RunUntil([&] { return done == 3 && stack_.executor().InFlight() == 0; }));
  EXPECT_EQ(stack_.executor().EffectiveDrain(portal->host), 5.0);
  EXPECT_EQ(stack_.emulator().Stats().portals[portal_.id].requests_by_method["app.info"], 2);  // install + once
}

TEST_F(OAuthTest, SecretsNeverReachTheLog) {
  Install();
  stack_.emulator().ExpireAccessTokens(portal_.id);
  CallMany(2);
  auto row = store_->Get(member_id_);
  ASSERT_TRUE(row.ok());
  std::string log = stack_.log();
  ASSERT_NE(log.find("refreshing the access token"), std::string::npos);
  ASSERT_NE(log.find("-> POST"), std::string::npos);
  for (const std::string& secret : {row->access_token, row->refresh_token, std::string(kClientSecret)}) {
    EXPECT_EQ(log.find(secret), std::string::npos);
  }
}

}  // namespace
}  // namespace b24::auth
