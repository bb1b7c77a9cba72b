#include "service/app/store_health.h"

#include <gtest/gtest.h>

#include <deque>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/testing/fake_clock.h"

namespace b24::app {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(StoreHealthDecideTest, Table) {
  const absl::Duration timeout = absl::Seconds(10);
  struct Case {
    const char* name;
    StoreProbe probe;
    absl::Duration since;  // now - probe.sent
    bool serving;
    const char* why;  // substring
  };
  const std::vector<Case> cases = {
      {"never pinged", {}, absl::ZeroDuration(), true, ""},
      {"last ping ok", {false, kT0, absl::OkStatus()}, absl::Seconds(30), true, ""},
      {"last ping failed",
       {false, kT0, absl::UnavailableError("connection refused")},
       absl::Seconds(1),
       false,
       "unreachable: connection refused"},
      {"outstanding, within the timeout", {true, kT0, absl::OkStatus()}, absl::Seconds(9), true, ""},
      {"outstanding, at the timeout",
       {true, kT0, absl::OkStatus()},
       absl::Seconds(10),
       false,
       "has not answered for 10s"},
      {"outstanding after a failure",
       {true, kT0, absl::UnavailableError("down")},
       absl::Seconds(1),
       false,
       "unreachable: down"},
  };
  for (const Case& c : cases) {
    StoreVerdict v = StoreHealthDecide(c.probe, kT0 + c.since, timeout);
    EXPECT_EQ(v.serving, c.serving) << c.name;
    EXPECT_NE(v.why.find(c.why), std::string::npos) << c.name << ": " << v.why;
    if (c.serving) {
      EXPECT_EQ(v.why, "") << c.name;
    }
  }
}

// Pings run when the test says so (a queue instead of a thread).
struct Harness {
  testing::FakeClock clock{kT0};
  std::ostringstream out;
  Logger log{&out, LogLevel::kInfo};
  std::deque<std::function<void()>> posted;
  std::deque<absl::Status> answers;  // what the next pings return
  int pings = 0;
  std::vector<std::pair<bool, std::string>> reports;
  StoreHealthOptions options;
  std::unique_ptr<StoreHealth> health;

  Harness() {
    options.interval = absl::Seconds(5);
    options.timeout = absl::Seconds(10);
    health = std::make_unique<StoreHealth>(
        [this] {
          ++pings;
          absl::Status s = answers.empty() ? absl::OkStatus() : answers.front();
          if (!answers.empty()) answers.pop_front();
          return s;
        },
        [this](std::function<void()> fn) { posted.push_back(std::move(fn)); }, clock, log, options,
        [this](bool serving, const std::string& why) { reports.emplace_back(serving, why); });
  }
  void RunPosted() {
    while (!posted.empty()) {
      auto fn = std::move(posted.front());
      posted.pop_front();
      fn();
    }
  }
};

TEST(StoreHealthTest, ReportsEachChangeOnceAndRecovers) {
  Harness h;
  h.answers = {absl::OkStatus(), absl::UnavailableError("connection refused"), absl::UnavailableError("refused"),
               absl::OkStatus()};
  h.health->Start();
  h.RunPosted();
  EXPECT_EQ(h.pings, 1);
  EXPECT_TRUE(h.health->serving());
  EXPECT_TRUE(h.reports.empty());  // serving from the start: nothing to report

  h.clock.Advance(absl::Seconds(5));
  h.RunPosted();
  EXPECT_EQ(h.pings, 2);
  EXPECT_FALSE(h.health->serving());
  ASSERT_EQ(h.reports.size(), 1u);
  EXPECT_FALSE(h.reports[0].first);
  EXPECT_NE(h.reports[0].second.find("connection refused"), std::string::npos);
  EXPECT_NE(h.out.str().find("WARNING"), std::string::npos);

  h.clock.Advance(absl::Seconds(5));  // still down: no second report
  h.RunPosted();
  EXPECT_EQ(h.reports.size(), 1u);

  h.clock.Advance(absl::Seconds(5));
  h.RunPosted();
  EXPECT_EQ(h.pings, 4);
  ASSERT_EQ(h.reports.size(), 2u);
  EXPECT_TRUE(h.reports[1].first);
  EXPECT_TRUE(h.health->serving());
  EXPECT_NE(h.out.str().find("answers again"), std::string::npos);
}

TEST(StoreHealthTest, APingThatHangsCountsAsDownAndIsNotSentTwice) {
  Harness h;
  h.health->Start();
  ASSERT_EQ(h.posted.size(), 1u);  // sent, but the database does not answer
  h.clock.Advance(absl::Seconds(5));
  EXPECT_EQ(h.posted.size(), 1u);  // no second ping while one is outstanding
  EXPECT_TRUE(h.health->serving());
  h.clock.Advance(absl::Seconds(5));  // 10 s outstanding
  EXPECT_FALSE(h.health->serving());
  ASSERT_EQ(h.reports.size(), 1u);
  EXPECT_NE(h.reports[0].second.find("has not answered for 10s"), std::string::npos);
  h.RunPosted();  // it answers at last
  EXPECT_TRUE(h.health->serving());
  EXPECT_EQ(h.reports.size(), 2u);
  EXPECT_EQ(h.pings, 1);
}

TEST(StoreHealthTest, NothingAfterStop) {
  Harness h;
  h.answers = {absl::UnavailableError("down")};
  h.health->Start();
  h.health->Stop();
  h.RunPosted();  // the ping answers after Stop(): no report
  h.clock.Advance(absl::Seconds(60));
  h.RunPosted();
  EXPECT_TRUE(h.reports.empty());
  EXPECT_EQ(h.pings, 1);
  h.health.reset();  // destroyed with a timer still pending in the clock
  h.clock.Advance(absl::Seconds(60));
  EXPECT_EQ(h.pings, 1);
}

}  // namespace
}  // namespace b24::app
