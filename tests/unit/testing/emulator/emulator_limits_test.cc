// The leaky bucket (503) and the operating budget (429) on a FakeClock, and the
// server-time cost model.
#include "tests/unit/testing/emulator/emulator_test_base.h"

namespace b24::testing {
namespace {

class EmulatorLimitsTest : public EmulatorTestBase {
 protected:
  // A second webhook on the same portal: its own operating budget.
  void SetUp() override {
    EmulatorTestBase::SetUp();
    emu_.AddWebhook(portal_.id, 7, "other");
  }
  void EnableRateLimit() {
    emu_.ConfigurePortal(portal_.id, [](PortalOptions& o) { o.rate_limit.enabled = true; });
  }
  void EnableOperatingLimit(absl::Duration per_request) {
    emu_.ConfigurePortal(portal_.id, [per_request](PortalOptions& o) {
      o.operating.enabled = true;
      o.cost.per_request = per_request;
    });
  }
};

TEST_F(EmulatorLimitsTest, LeakyBucketFiftyThenTwoPerSecond) {
  EnableRateLimit();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(Get("profile").status, 200) << i;
  ExpectError(Get("profile"), 503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Get("profile").status, 200);
  EXPECT_EQ(Get("profile").status, 200);
  EXPECT_EQ(Get("profile").status, 503);
  EXPECT_EQ(emu_.Stats().portals[portal_.id].query_limit_exceeded, 2);
  emu_.ResetLimits(portal_.id);
  EXPECT_EQ(Get("profile").status, 200);
}

TEST_F(EmulatorLimitsTest, BatchCountsOnceAndPortalsAreIndependent) {
  EnableRateLimit();
  for (int i = 0; i < 49; ++i) ASSERT_EQ(Get("profile").status, 200);
  Json cmd = Json::array();
  for (int i = 0; i < 50; ++i) cmd.push_back("crm.deal.get?id=" + std::to_string(i + 1));
  CurlResponse r = PostJson("batch", Json{{"cmd", cmd}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["result"]["result"].size(), 50u);
  EXPECT_EQ(Get("profile").status, 503);

  PortalOptions o = DefaultPortal();
  o.rate_limit.enabled = true;
  absl::StatusOr<PortalInfo> other = emu_.AddPortal(o);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(curl_.Get(other->WebhookUrl(1, "hookcode") + "profile").status, 200);
}

TEST_F(EmulatorLimitsTest, CostModelSetsProcessingTime) {
  emu_.ConfigurePortal(portal_.id, [](PortalOptions& o) {
    o.cost = {absl::Milliseconds(50), absl::Milliseconds(1), absl::Microseconds(21)};
  });
  Json t = Ok("crm.deal.list")["time"];
  EXPECT_NEAR(t["processing"].get<double>(), 0.05 + 0.05 + 0.021, 1e-9);
  EXPECT_NEAR(t["duration"].get<double>(), 0.121, 1e-9);
  EXPECT_NEAR(t["finish"].get<double>() - t["start"].get<double>(), 0.121, 1e-6);
  t = Ok("crm.deal.list", "start=-1")["time"];  // No COUNT.
  EXPECT_NEAR(t["processing"].get<double>(), 0.1, 1e-9);
  t = Ok("crm.deal.get", "id=1")["time"];
  EXPECT_NEAR(t["processing"].get<double>(), 0.051, 1e-9);
}

TEST_F(EmulatorLimitsTest, CheapHitsAreNeverCharged) {
  EnableOperatingLimit(absl::Milliseconds(100));  // Not above the 0.1 s floor.
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(Ok("profile")["time"]["operating"].get<double>(), 0.1, 1e-9);
  }
}

TEST_F(EmulatorLimitsTest, OperatingLimitBlocksMethodPerWebhookUntilReset) {
  EnableOperatingLimit(absl::Seconds(10));
  // 48 calls make 480 s (not over the limit), the 49th still runs (490 s).
  for (int i = 1; i <= 49; ++i) {
    Json t = Ok("profile")["time"];
    ASSERT_NEAR(t["operating"].get<double>(), 10.0 * i, 1e-6) << i;
    ASSERT_EQ(t["operating_reset_at"], 1700000600);
  }
  ExpectError(Get("profile"), 429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.");
  // Other methods and other webhooks have their own budgets.
  EXPECT_EQ(Get("server.time").status, 200);
  EXPECT_EQ(curl_.Get(portal_.WebhookUrl(7, "other") + "profile").status, 200);
  // Inside a batch the block is a per-command error and the batch reports 0.
  CurlResponse r = PostJson("batch", Json{{"cmd", {{"p", "profile"}, {"t", "server.time"}}}});
  ASSERT_EQ(r.status, 200);
  Json j = r.json();
  EXPECT_EQ(j["result"]["result_error"]["p"]["error"], "OPERATION_TIME_LIMIT");
  EXPECT_NEAR(j["result"]["result_time"]["t"]["operating"].get<double>(), 20.0, 1e-6);
  EXPECT_EQ(j["time"]["operating"], 0.0);
  EXPECT_EQ(emu_.Stats().portals[portal_.id].operation_time_limit, 2);
  // Everything was charged in the first minute bucket; it expires at +600 s.
  clock_.Advance(absl::Seconds(599));
  EXPECT_EQ(Get("profile").status, 429);
  clock_.Advance(absl::Seconds(1));
  Json t = Ok("profile")["time"];
  EXPECT_NEAR(t["operating"].get<double>(), 10.0, 1e-6);
  EXPECT_EQ(t["operating_reset_at"], 1700000600 + 600);
}

TEST_F(EmulatorLimitsTest, BatchChargesEachCommandToItsMethod) {
  EnableOperatingLimit(absl::Seconds(100));
  Json cmd = {{"a", "crm.deal.get?id=1"}, {"b", "crm.deal.get?id=2"}, {"c", "profile"}};
  Json j = PostJson("batch", Json{{"cmd", cmd}}).json();
  const Json& times = j["result"]["result_time"];
  EXPECT_NEAR(times["a"]["operating"].get<double>(), 100, 1e-6);
  EXPECT_NEAR(times["b"]["operating"].get<double>(), 200, 1e-6);  // In-flight hit counts.
  EXPECT_NEAR(times["c"]["operating"].get<double>(), 100, 1e-6);
  EXPECT_NEAR(times["b"]["start"].get<double>() - times["a"]["start"].get<double>(), 100, 1e-6);
  EXPECT_NEAR(j["time"]["duration"].get<double>(), 300, 1e-6);
  EXPECT_NEAR(Ok("crm.deal.get", "id=1")["time"]["operating"].get<double>(), 300, 1e-6);
}

}  // namespace
}  // namespace b24::testing
