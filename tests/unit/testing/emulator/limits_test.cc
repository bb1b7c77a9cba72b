#include "tests/testing/emulator/limits.h"

#include "gtest/gtest.h"

namespace b24::testing {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(LeakyBucketTest, FiftyThenTwoPerSecond) {
  LeakyBucket b;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(b.TryAcquire(kT0, 50, 2)) << i;
  EXPECT_FALSE(b.TryAcquire(kT0, 50, 2));
  EXPECT_TRUE(b.TryAcquire(kT0 + absl::Seconds(1), 50, 2));
  EXPECT_TRUE(b.TryAcquire(kT0 + absl::Seconds(1), 50, 2));
  EXPECT_FALSE(b.TryAcquire(kT0 + absl::Seconds(1), 50, 2));
  EXPECT_TRUE(b.TryAcquire(kT0 + absl::Seconds(100), 50, 2));  // Drained, not negative.
  for (int i = 0; i < 49; ++i) ASSERT_TRUE(b.TryAcquire(kT0 + absl::Seconds(100), 50, 2));
  EXPECT_FALSE(b.TryAcquire(kT0 + absl::Seconds(100), 50, 2));
}

TEST(OperatingBudgetTest, ChargesAboveMinimumAndExpiresPerBucket) {
  OperatingBudget b;
  const absl::Duration min = absl::Milliseconds(100), size = absl::Seconds(60);
  b.Charge(kT0, absl::Milliseconds(100), min, size, 10);  // Not above 0.1 s: free.
  EXPECT_EQ(b.Used(kT0), absl::ZeroDuration());
  EXPECT_EQ(b.ResetAt(kT0, kT0 + absl::Seconds(1)), kT0 + absl::Seconds(1));
  b.Charge(kT0, absl::Seconds(5), min, size, 10);
  b.Charge(kT0 + absl::Seconds(10), absl::Seconds(5), min, size, 10);  // Same minute bucket.
  b.Charge(kT0 + absl::Seconds(130), absl::Seconds(7), min, size, 10);
  EXPECT_EQ(b.Used(kT0 + absl::Seconds(130)), absl::Seconds(17));
  EXPECT_EQ(b.ResetAt(kT0 + absl::Seconds(130), kT0), kT0 + absl::Seconds(600));
  EXPECT_EQ(b.Used(kT0 + absl::Seconds(600)), absl::Seconds(7));
  EXPECT_EQ(b.ResetAt(kT0 + absl::Seconds(600), kT0), kT0 + absl::Seconds(730));
  EXPECT_EQ(b.Used(kT0 + absl::Seconds(730)), absl::ZeroDuration());
}

}  // namespace
}  // namespace b24::testing
