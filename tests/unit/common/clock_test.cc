#include "service/common/clock.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/testing/fake_clock.h"

namespace b24 {
namespace {

TEST(FakeClockTest, RunsTimersInOrderWhenAdvanced) {
  testing::FakeClock clock;
  std::vector<int> order;
  absl::Time t0 = clock.Now();
  clock.RunAfter(absl::Seconds(2), [&] { order.push_back(2); });
  clock.RunAfter(absl::Seconds(1), [&] {
    order.push_back(1);
    EXPECT_EQ(clock.Now(), t0 + absl::Seconds(1));
    clock.RunAfter(absl::Milliseconds(500), [&] { order.push_back(15); });
  });
  clock.Advance(absl::Milliseconds(999));
  EXPECT_TRUE(order.empty());
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(order, (std::vector<int>{1, 15, 2}));
  EXPECT_EQ(clock.Now(), t0 + absl::Milliseconds(5999));
}

TEST(RealClockTest, RunsPastTimersAtOnce) {
  RealClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool ran = false;
  clock.RunAt(absl::InfinitePast(), [&] {
    std::lock_guard<std::mutex> lock(mu);
    ran = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return ran; }));
}

}  // namespace
}  // namespace b24
