// The executor against the emulator's real limit model, in virtual time.
#include <gtest/gtest.h>

#include "service/common/status.h"
#include "tests/testing/stack.h"

namespace b24::rest {
namespace {

using testing::Fault;
using testing::Stack;

// Callers that each send the next call as soon as the previous one returns,
// until virtual time passes `until`; records every result.
class Callers {
 public:
  Callers(Stack& stack, Portal portal, std::string method, absl::Time until, absl::Duration deadline)
      : stack_(stack), portal_(std::move(portal)), method_(std::move(method)), until_(until), deadline_(deadline) {}

  void Start(int n) {
    running_ = n;
    for (int i = 0; i < n; ++i) Next();
  }
  bool Done() { return running_ == 0; }

  std::mutex mu;
  std::vector<absl::Status> errors;
  std::vector<absl::Time> sent_ok;  // virtual completion times of successful calls

 private:
  void Next() {
    if (stack_.clock().Now() >= until_) {
      --running_;
      return;
    }
    stack_.rest().Call(portal_, method_, {{"id", 1}}, stack_.clock().Now() + deadline_,
                       [this](absl::StatusOr<Envelope> env) {
                         {
                           std::lock_guard<std::mutex> lock(mu);
                           if (env.ok())
                             sent_ok.push_back(stack_.clock().Now());
                           else
                             errors.push_back(env.status());
                         }
                         Next();
                       });
  }

  Stack& stack_;
  Portal portal_;
  std::string method_;
  absl::Time until_;
  absl::Duration deadline_;
  std::atomic<int> running_{0};
};

TEST(LimitsTest, EightCallersForAMinuteNeverOverflowTheBucket) {
  Stack stack;
  int id;
  testing::PortalOptions po;  // 50 burst, 2/s
  po.seed.deals = 5;
  Portal portal = stack.AddWebhookPortal(po, &id);
  absl::Time start = stack.clock().Now();
  Callers callers(stack, portal, "crm.deal.get", start + absl::Minutes(1), absl::Seconds(30));
  callers.Start(8);
  ASSERT_TRUE(stack.RunUntil([&] { return callers.Done(); }));
  auto stats = stack.emulator().Stats().portals[id];
  EXPECT_EQ(stats.query_limit_exceeded, 0);
  std::lock_guard<std::mutex> lock(callers.mu);
  for (const auto& e : callers.errors) ADD_FAILURE() << e;
  // Sustained rate after the burst: completions in the second half-minute.
  int64_t late = 0;
  for (absl::Time t : callers.sent_ok) late += t >= start + absl::Seconds(30) && t < start + absl::Seconds(60);
  double rate = late / 30.0;
  EXPECT_NEAR(rate, 2.0, 0.1) << "requests/s in the second half-minute";
  ::testing::Test::RecordProperty("sustained_rate", std::to_string(rate));
}

TEST(LimitsTest, ACompetingClientCausesNoErrorForOurCallers) {
  Stack stack;
  int id;
  testing::PortalOptions po;
  po.seed.deals = 5;
  Portal portal = stack.AddWebhookPortal(po, &id);
  absl::Time start = stack.clock().Now();
  // Another app on the same portal eats one request a second from the bucket.
  auto competitor_sent = std::make_shared<std::atomic<int>>(0);  // outlives the stack's transport
  std::function<void()> compete = [&] {
    if (stack.clock().Now() >= start + absl::Minutes(1)) return;
    http::HttpRequest r;
    r.url = portal.base_url + "profile";
    r.body = "{}";
    r.headers = {{"Content-Type", "application/json"}};
    stack.transport().Send(r, [competitor_sent](absl::StatusOr<http::HttpResponse>) { ++*competitor_sent; });
    stack.clock().RunAfter(absl::Seconds(1), compete);
  };
  compete();
  Callers callers(stack, portal, "crm.deal.get", start + absl::Minutes(1), absl::Seconds(30));
  callers.Start(8);
  ASSERT_TRUE(stack.RunUntil([&] { return callers.Done(); }));
  std::lock_guard<std::mutex> lock(callers.mu);
  for (const auto& e : callers.errors) ADD_FAILURE() << e;
  EXPECT_GT(callers.sent_ok.size(), 60u);
  EXPECT_GT(competitor_sent->load(), 30);
  // The competitor did push the portal's bucket over: our pacing had to adapt.
  EXPECT_GT(stack.emulator().Stats().portals[id].query_limit_exceeded, 0);
}

TEST(LimitsTest, ABlockedMethodWaitsForItsResetWithAtMostOneRejectionPerWindow) {
  Stack stack;
  int id;
  testing::PortalOptions po;
  po.seed.deals = 5;
  po.operating.limit = absl::Seconds(10);
  po.cost.per_request = absl::Seconds(2);
  Portal portal = stack.AddWebhookPortal(po, &id);
  absl::Time start = stack.clock().Now();
  Callers callers(stack, portal, "crm.deal.get", start + absl::Minutes(30), absl::Minutes(15));
  callers.Start(2);
  ASSERT_TRUE(stack.RunUntil([&] { return callers.Done(); }));
  auto stats = stack.emulator().Stats().portals[id];
  std::lock_guard<std::mutex> lock(callers.mu);
  for (const auto& e : callers.errors) ADD_FAILURE() << e;
  // Every minute bucket expires separately: at most one probe is refused each time.
  EXPECT_LE(stats.operation_time_limit, 30);
  // The budget allows 10 s of 2 s calls per 10 minutes: about 15-18 calls in 30 minutes.
  EXPECT_GE(callers.sent_ok.size(), 15u);
}

TEST(LimitsTest, AnAddWhoseConnectionDroppedIsNotRetried) {
  Stack stack;
  int id;
  testing::PortalOptions po;
  po.seed.deals = 5;
  Portal portal = stack.AddWebhookPortal(po, &id);
  // A read first leaves a keep-alive connection that libcurl would reuse and,
  // when it drops unanswered, silently send the add on again.
  ASSERT_TRUE(stack.Call(portal, "crm.deal.get", {{"id", 1}}).ok());
  stack.emulator().InjectFault(id, Fault::DropAfterExecute("crm.deal.add"));
  absl::StatusOr<Envelope> out = stack.Call(portal, "crm.deal.add", {{"fields", {{"TITLE", "x"}}}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetErrorDetail(out.status())->metadata["may_have_executed"], "true");
  auto stats = stack.emulator().Stats().portals[id];
  EXPECT_EQ(stats.executed_by_method["crm.deal.add"], 1);
  EXPECT_EQ(stats.requests_by_method["crm.deal.add"], 1);
}

TEST(LimitsTest, AReadWhoseConnectionDroppedIsRetried) {
  Stack stack;
  int id;
  testing::PortalOptions po;
  po.seed.deals = 5;
  Portal portal = stack.AddWebhookPortal(po, &id);
  stack.emulator().InjectFault(id, Fault::DropBeforeExecute("crm.deal.get"));
  absl::StatusOr<Envelope> out = stack.Call(portal, "crm.deal.get", {{"id", 2}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->result["ID"], "2");
  EXPECT_EQ(stack.emulator().Stats().portals[id].http_requests, 2);
}

TEST(RenameTest, ARenamedPortalIsFollowedWithTheSamePost) {
  testing::Stack stack;
  int id;
  testing::PortalOptions po;
  po.seed.deals = 5;
  Portal portal = stack.AddWebhookPortal(po, &id);
  auto moved = stack.emulator().RenamePortal(id);
  ASSERT_TRUE(moved.ok());
  std::string renamed_to;
  stack.rest().SetRenameHook([&](const Portal&, const std::string& url) { renamed_to = url; });
  absl::StatusOr<Envelope> out = stack.Call(portal, "crm.deal.update", {{"id", 3}, {"fields", {{"TITLE", "moved"}}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(renamed_to, moved->WebhookUrl(1, "stackcode"));
  auto stats = stack.emulator().Stats().portals[id];
  EXPECT_EQ(stats.redirects, 1);
  EXPECT_EQ(stats.executed_by_method["crm.deal.update"], 1);
}

}  // namespace
}  // namespace b24::rest
