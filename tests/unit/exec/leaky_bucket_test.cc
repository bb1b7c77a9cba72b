#include "service/exec/leaky_bucket.h"

#include <gtest/gtest.h>

namespace b24::exec {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(LeakyBucketTest, HoldsBurstMinusTheMarginThenDrainsAtTheRate) {
  LeakyBucket b({2, 50});
  int sent = 0;
  while (b.WaitFor(kT0, 0) == absl::ZeroDuration()) {
    b.Take(kT0);
    ++sent;
  }
  EXPECT_EQ(sent, 50 - kDefaultSafetyMargin);
  EXPECT_EQ(b.WaitFor(kT0, 0), absl::Milliseconds(500));  // one place drains in 1/2 s
  EXPECT_EQ(b.WaitFor(kT0, 3), absl::Seconds(2));         // behind three promised to others
  EXPECT_EQ(b.WaitFor(kT0 + absl::Milliseconds(500), 0), absl::ZeroDuration());
  EXPECT_DOUBLE_EQ(b.Level(kT0 + absl::Seconds(10)), 28);
  b.Refund(kT0 + absl::Seconds(10));
  EXPECT_DOUBLE_EQ(b.Level(kT0 + absl::Seconds(10)), 27);
  EXPECT_DOUBLE_EQ(b.Level(kT0 + absl::Hours(1)), 0);  // never below empty
}

TEST(LeakyBucketTest, ARefusalFillsTheEstimateAndSlowsTheDrainSuccessesRestoreIt) {
  LeakyBucket b({2, 50});
  b.OnRateLimited(kT0);
  EXPECT_DOUBLE_EQ(b.Level(kT0), 48);
  EXPECT_DOUBLE_EQ(b.drain(), 2 * kSlowDownFactor);
  for (int i = 0; i < 20; ++i) b.OnRateLimited(kT0);
  EXPECT_DOUBLE_EQ(b.drain(), 2 * kMinDrainFraction);  // floor
  double before = b.drain();
  for (int i = 0; i < kRecoveryStreak - 1; ++i) b.OnSuccess();
  EXPECT_DOUBLE_EQ(b.drain(), before);
  b.OnSuccess();
  EXPECT_DOUBLE_EQ(b.drain(), before * kSpeedUpFactor);
  for (int i = 0; i < 100 * kRecoveryStreak; ++i) b.OnSuccess();
  EXPECT_DOUBLE_EQ(b.drain(), 2);  // back to the plan's rate, not above
}

TEST(LeakyBucketTest, APlanChangeKeepsTheSlowDownInProportion) {
  LeakyBucket b({2, 50});
  b.OnRateLimited(kT0);
  b.SetLimits({5, 250});
  EXPECT_DOUBLE_EQ(b.drain(), 5 * kSlowDownFactor);
  EXPECT_EQ(b.limits().burst, 250);
}

TEST(LeakyBucketTest, ATinyBucketStillLetsOneRequestThrough) {
  LeakyBucket b({1, 1}, /*safety_margin=*/2);
  EXPECT_EQ(b.WaitFor(kT0, 0), absl::ZeroDuration());
  b.Take(kT0);
  EXPECT_EQ(b.WaitFor(kT0, 0), absl::Seconds(1));
}

}  // namespace
}  // namespace b24::exec
