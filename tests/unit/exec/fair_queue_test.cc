#include "service/exec/fair_queue.h"

#include <gtest/gtest.h>

namespace b24::exec {
namespace {

std::vector<std::string> Order(FairQueue<std::string>& q) {
  std::vector<std::string> out;
  for (auto it = q.begin(); it != q.end();) {
    q.Dispatched(it->first);
    out.push_back(it->second);
    it = q.Erase(it);
  }
  return out;
}

TEST(FairQueueTest, ACallersFloodDelaysAnotherCallerByOneJobAtMost) {
  FairQueue<std::string> q;
  for (int i = 0; i < 1000; ++i) q.Push("flood", "f" + std::to_string(i));
  q.Push("quiet", "q");
  std::vector<std::string> order = Order(q);
  ASSERT_EQ(order.size(), 1001u);
  EXPECT_EQ(order[0], "f0");
  EXPECT_EQ(order[1], "q");
}

TEST(FairQueueTest, CallersAlternate) {
  FairQueue<std::string> q;
  for (int i = 0; i < 3; ++i) q.Push("a", "a" + std::to_string(i));
  for (int i = 0; i < 3; ++i) q.Push("b", "b" + std::to_string(i));
  EXPECT_EQ(Order(q), (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"}));
}

TEST(FairQueueTest, ANewCallerStartsAtTheVirtualTimeNotAtZero) {
  FairQueue<std::string> q;
  for (int i = 0; i < 5; ++i) q.Push("a", "a" + std::to_string(i));
  auto it = q.begin();
  for (int i = 0; i < 3; ++i) {  // three of a's jobs dispatched
    q.Dispatched(it->first);
    it = q.Erase(it);
  }
  q.Push("late", "l");  // tagged after the virtual time, not before a's remaining jobs... fairly between them
  EXPECT_EQ(Order(q), (std::vector<std::string>{"a3", "l", "a4"}));
}

TEST(FairQueueTest, ARequeuedJobKeepsItsPlace) {
  FairQueue<std::string> q;
  uint64_t first = q.Push("a", "a0");
  q.Push("a", "a1");
  q.Push("b", "b0");
  auto it = q.begin();
  ASSERT_EQ(it->second, "a0");
  q.Dispatched(it->first);
  q.Erase(it);
  q.Requeue(first, "a0 again");  // a retry: its old tag, ahead of a1 (b0 shares the tag and was there first)
  EXPECT_EQ(Order(q), (std::vector<std::string>{"b0", "a0 again", "a1"}));
}

TEST(FairQueueTest, IdleCallersAreForgotten) {
  FairQueue<std::string> q;
  for (size_t i = 0; i <= kMaxRememberedCallers; ++i) {
    q.Push("caller" + std::to_string(i), "x");
    Order(q);
  }
  q.Push("one more", "y");
  EXPECT_LE(q.remembered_callers(), 2u);
  EXPECT_EQ(q.Clear(), std::vector<std::string>{"y"});
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace b24::exec
