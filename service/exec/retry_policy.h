// RetryPolicy: what to do with a request's outcome — deliver, fail, or send
// it again and when.
//
// Reads are repeated on transient failures, a bounded number of times, with
// exponential jittered backoff, never past the caller's deadline. A write is
// repeated only when the portal surely did not run it (limit refusals,
// connections never made); a write that failed after it was sent is never
// repeated and its caller is told it may have run. Limit refusals
// (QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT) are repeated at once — the
// bucket and the operating budget decide when it goes out — up to their own
// bound, unless their handling is switched off.
//
// A pure function of its inputs: the jitter comes from the caller, so a test
// decides it.
#pragma once

#include "absl/time/time.h"

namespace b24::exec {

enum class Outcome {
  kSuccess,         // deliver
  kFinal,           // deliver the error
  kTransient,       // retry (if allowed for the job) with backoff
  kRateLimited,     // QUERY_LIMIT_EXCEEDED: not executed; retry after the bucket drains
  kOperatingLimit,  // OPERATION_TIME_LIMIT: not executed; retry after the method's reset
  kRetryNow,        // the judge repaired something (e.g. followed a rename): repeat once, no delay
};
inline constexpr int kOutcomeCount = static_cast<int>(Outcome::kRetryNow) + 1;

// "success", "final", "transient", "rate_limited", "operating_limit", "retry_now" (metric labels).
const char* OutcomeName(Outcome outcome);

struct RetryOptions {
  int max_attempts = 4;        // for transient failures, first attempt included
  int max_limit_retries = 20;  // for QUERY_LIMIT_EXCEEDED / OPERATION_TIME_LIMIT
  absl::Duration base_delay = absl::Milliseconds(500);
  absl::Duration max_delay = absl::Seconds(10);
  bool handle_query_limit_exceeded = true;
  bool handle_operation_time_limit = true;
  // No attempt starts with less than this left before the deadline.
  absl::Duration min_attempt_time = absl::Milliseconds(50);
};

// Backoff jitter is drawn from [1 - kJitter, 1 + kJitter]: enough to spread
// callers that failed together, little enough to keep the schedule.
inline constexpr double kJitter = 0.2;

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryOptions options = {}) : options_(options) {}

  enum class Action { kDeliver, kFail, kRetry };
  struct Decision {
    Action action = Action::kFail;
    absl::Time at = absl::InfinitePast();  // kRetry: not before
    bool gave_up = false;                  // kFail: the attempts ran out
    // kFail: the request was sent and its fate is unknown (writes only).
    bool may_have_executed = false;
  };

  struct Attempt {
    Outcome outcome = Outcome::kSuccess;
    bool idempotent = true;
    bool surely_not_executed = false;
    int attempts = 0;       // sent so far, this one included
    int limit_retries = 0;  // limit refusals so far, this one included
    absl::Time now, deadline = absl::InfiniteFuture();
    double jitter = 1.0;  // in [1 - kJitter, 1 + kJitter]
  };
  Decision Decide(const Attempt& a) const;

  // The delay before attempt `attempt + 1` after `attempt` transient failures.
  absl::Duration Backoff(int attempt, double jitter) const;

  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
};

}  // namespace b24::exec
