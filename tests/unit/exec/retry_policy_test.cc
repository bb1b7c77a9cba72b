#include "service/exec/retry_policy.h"

#include <gtest/gtest.h>

namespace b24::exec {
namespace {

using Action = RetryPolicy::Action;
const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(RetryPolicyTest, DecisionTable) {
  RetryOptions o;
  o.max_attempts = 3;
  o.max_limit_retries = 2;
  RetryPolicy policy(o);
  struct Case {
    const char* what;
    Outcome outcome;
    bool idempotent, surely_not_executed;
    int attempts, limit_retries;
    absl::Duration deadline;  // from now; InfiniteDuration = none
    Action action;
    absl::Duration at;  // kRetry: delay from now
    bool gave_up, may_have_executed;
  };
  const absl::Duration kNone = absl::InfiniteDuration();
  const Case cases[] = {
      {"success", Outcome::kSuccess, true, false, 1, 0, kNone, Action::kDeliver, {}, false, false},
      {"final read", Outcome::kFinal, true, false, 1, 0, kNone, Action::kFail, {}, false, false},
      {"final write the portal refused", Outcome::kFinal, false, true, 1, 0, kNone, Action::kFail, {}, false, false},
      {"final write after sending", Outcome::kFinal, false, false, 1, 0, kNone, Action::kFail, {}, false, true},
      {"transient read", Outcome::kTransient, true, false, 1, 0, kNone, Action::kRetry, absl::Milliseconds(500), false,
       false},
      {"transient read, 2nd", Outcome::kTransient, true, false, 2, 0, kNone, Action::kRetry, absl::Seconds(1), false,
       false},
      {"transient read, out of attempts",
       Outcome::kTransient,
       true,
       false,
       3,
       0,
       kNone,
       Action::kFail,
       {},
       true,
       false},
      {"transient read, backoff past deadline",
       Outcome::kTransient,
       true,
       false,
       1,
       0,
       absl::Milliseconds(520),
       Action::kFail,
       {},
       false,
       false},
      {"transient write after sending", Outcome::kTransient, false, false, 1, 0, kNone, Action::kFail, {}, false, true},
      {"transient write never sent", Outcome::kTransient, false, true, 1, 0, kNone, Action::kRetry,
       absl::Milliseconds(500), false, false},
      {"rate limited write", Outcome::kRateLimited, false, true, 1, 1, kNone, Action::kRetry, {}, false, false},
      {"rate limited, out of limit retries",
       Outcome::kRateLimited,
       true,
       true,
       5,
       3,
       kNone,
       Action::kFail,
       {},
       false,
       false},
      {"operating limit", Outcome::kOperatingLimit, true, true, 1, 2, kNone, Action::kRetry, {}, false, false},
      {"retry now", Outcome::kRetryNow, false, true, 3, 0, kNone, Action::kRetry, {}, false, false},
      {"retry now, looping", Outcome::kRetryNow, false, true, 4, 0, kNone, Action::kFail, {}, false, false},
  };
  for (const Case& c : cases) {
    RetryPolicy::Attempt a;
    a.outcome = c.outcome;
    a.idempotent = c.idempotent;
    a.surely_not_executed = c.surely_not_executed;
    a.attempts = c.attempts;
    a.limit_retries = c.limit_retries;
    a.now = kT0;
    a.deadline = c.deadline == kNone ? absl::InfiniteFuture() : kT0 + c.deadline;
    RetryPolicy::Decision d = policy.Decide(a);
    EXPECT_EQ(d.action, c.action) << c.what;
    if (c.action == Action::kRetry) {
      EXPECT_EQ(d.at, kT0 + c.at) << c.what;
    }
    EXPECT_EQ(d.gave_up, c.gave_up) << c.what;
    EXPECT_EQ(d.may_have_executed, c.may_have_executed) << c.what;
  }
}

TEST(RetryPolicyTest, LimitHandlingCanBeSwitchedOff) {
  RetryOptions o;
  o.handle_query_limit_exceeded = false;
  o.handle_operation_time_limit = false;
  RetryPolicy policy(o);
  for (Outcome outcome : {Outcome::kRateLimited, Outcome::kOperatingLimit}) {
    RetryPolicy::Attempt a;
    a.outcome = outcome;
    a.surely_not_executed = true;
    a.attempts = a.limit_retries = 1;
    a.now = kT0;
    EXPECT_EQ(policy.Decide(a).action, Action::kFail);
  }
}

TEST(RetryPolicyTest, BackoffDoublesIsCappedAndJittered) {
  RetryPolicy policy;  // 500 ms base, 10 s cap
  EXPECT_EQ(policy.Backoff(1, 1.0), absl::Milliseconds(500));
  EXPECT_EQ(policy.Backoff(2, 1.0), absl::Seconds(1));
  EXPECT_EQ(policy.Backoff(5, 1.0), absl::Seconds(8));
  EXPECT_EQ(policy.Backoff(6, 1.0), absl::Seconds(10));
  EXPECT_EQ(policy.Backoff(60, 1.0), absl::Seconds(10));  // no overflow
  EXPECT_EQ(policy.Backoff(1, 1 + kJitter), absl::Milliseconds(600));
  EXPECT_EQ(policy.Backoff(1, 1 - kJitter), absl::Milliseconds(400));
}

}  // namespace
}  // namespace b24::exec
