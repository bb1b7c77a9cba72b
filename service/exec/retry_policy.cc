#include "service/exec/retry_policy.h"

#include <algorithm>

namespace b24::exec {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kFinal:
      return "final";
    case Outcome::kTransient:
      return "transient";
    case Outcome::kRateLimited:
      return "rate_limited";
    case Outcome::kOperatingLimit:
      return "operating_limit";
    case Outcome::kRetryNow:
      return "retry_now";
  }
  return "unknown";
}

absl::Duration RetryPolicy::Backoff(int attempt, double jitter) const {
  absl::Duration d = options_.base_delay * (1 << std::clamp(attempt - 1, 0, 16));
  return std::min(d, options_.max_delay) * jitter;
}

RetryPolicy::Decision RetryPolicy::Decide(const Attempt& a) const {
  Decision d;
  auto fail = [&](bool gave_up = false) {
    d.action = Action::kFail;
    d.gave_up = gave_up;
    d.may_have_executed = !a.idempotent && !a.surely_not_executed;
    return d;
  };
  auto retry_at = [&](absl::Time when) {
    d.action = Action::kRetry;
    d.at = when;
    return d;
  };
  switch (a.outcome) {
    case Outcome::kSuccess:
      d.action = Action::kDeliver;
      return d;
    case Outcome::kFinal:
      return fail();
    case Outcome::kRateLimited:
      if (!options_.handle_query_limit_exceeded || a.limit_retries > options_.max_limit_retries) return fail();
      return retry_at(a.now);
    case Outcome::kOperatingLimit:
      if (!options_.handle_operation_time_limit || a.limit_retries > options_.max_limit_retries) return fail();
      return retry_at(a.now);
    case Outcome::kRetryNow:
      if (a.attempts > options_.max_attempts) return fail();
      return retry_at(a.now);
    case Outcome::kTransient: {
      if (!a.idempotent && !a.surely_not_executed) return fail();  // never repeat a write that may have run
      if (a.attempts >= options_.max_attempts) return fail(/*gave_up=*/true);
      absl::Time when = a.now + Backoff(a.attempts, a.jitter);
      if (when + options_.min_attempt_time > a.deadline) return fail();
      return retry_at(when);
    }
  }
  return fail();
}

}  // namespace b24::exec
