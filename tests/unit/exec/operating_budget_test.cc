#include "service/exec/operating_budget.h"

#include <gtest/gtest.h>

namespace b24::exec {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(OperatingBudgetTest, BlocksBeforeThePortalWouldCountingRequestsInFlight) {
  OperatingBudget b(480);
  b.OnSent("crm.deal.list");
  b.OnSent("crm.deal.list");
  // 470 s used, each request ~2 s, one more in flight: 472 < 480, not blocked.
  b.OnDone("crm.deal.list");
  b.Record({"crm.deal.list", 470, 1'700'000'300, 2.0}, kT0);
  EXPECT_EQ(b.ReadyAt("crm.deal.list"), absl::InfinitePast());
  // 479 s and ~2 s a request with one in flight: would pass 480 — block until the reset.
  b.Record({"crm.deal.list", 479, 1'700'000'300, 2.0}, kT0);
  EXPECT_EQ(b.ReadyAt("crm.deal.list"), absl::FromUnixSeconds(1'700'000'300) + kResetSlack);
  EXPECT_TRUE(b.ProbeBusy("crm.deal.list"));  // the one in flight is the probe now
  b.OnDone("crm.deal.list");
  EXPECT_FALSE(b.ProbeBusy("crm.deal.list"));
  EXPECT_EQ(b.ReadyAt("crm.deal.get"), absl::InfinitePast());  // other methods flow
}

TEST(OperatingBudgetTest, ARefusalBlocksUntilTheLastKnownResetOrAMinute) {
  OperatingBudget b(480);
  b.OnOperatingLimit("tasks.task.list", kT0);
  EXPECT_EQ(b.ReadyAt("tasks.task.list"), kT0 + kFallbackBlock);
  b.Record({"crm.deal.list", 100, 1'700'000'120, 0.1}, kT0);
  b.OnOperatingLimit("crm.deal.list", kT0);
  EXPECT_EQ(b.ReadyAt("crm.deal.list"), absl::FromUnixSeconds(1'700'000'120) + kResetSlack);
  // A reset already in the past is no information: a minute.
  b.OnOperatingLimit("crm.deal.list", kT0 + absl::Minutes(5));
  EXPECT_EQ(b.ReadyAt("crm.deal.list"), kT0 + absl::Minutes(5) + kFallbackBlock);
}

TEST(OperatingBudgetTest, AFreshSampleEndsTheProbe) {
  OperatingBudget b(10);
  b.OnSent("m");
  b.Record({"m", 11, 0, 1}, kT0);  // over, no reset known
  EXPECT_EQ(b.ReadyAt("m"), kT0 + kFallbackBlock);
  EXPECT_TRUE(b.ProbeBusy("m"));
  b.OnDone("m");
  b.OnSent("m");
  b.Record({"m", 1, 0, 1}, kT0 + kFallbackBlock);
  EXPECT_FALSE(b.ProbeBusy("m"));
}

TEST(OperatingBudgetTest, CostIsARunningAverage) {
  OperatingBudget b(100);
  b.Record({"m", 0, 0, 10}, kT0);  // first sample: 10
  b.Record({"m", 0, 0, 0}, kT0);   // no cost reported: unchanged
  for (int i = 0; i < 5; ++i) b.OnSent("m");
  // 55 + 10 × 5 in flight = 105 > 100 → blocked; with the average pulled to 8 → 95, not.
  b.Record({"m", 55, 0, 0}, kT0);
  EXPECT_NE(b.ReadyAt("m"), absl::InfinitePast());
  OperatingBudget c(100);
  c.Record({"m", 0, 0, 10}, kT0);
  c.Record({"m", 0, 0, 0.0001}, kT0);  // 0.8 × 10 + 0.2 × 0.0001 ≈ 8
  for (int i = 0; i < 5; ++i) c.OnSent("m");
  c.Record({"m", 55, 0, 0}, kT0);
  EXPECT_EQ(c.ReadyAt("m"), absl::InfinitePast());
}

}  // namespace
}  // namespace b24::exec
