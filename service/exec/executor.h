// Executor: the one gate every request to a portal passes, shared by all RPCs
// and callers of the process.
//
// Per portal (keyed by host) it keeps
//   - a client-side copy of the portal's leaky bucket (drain/s, burst), so the
//     portal's own bucket never overflows when we are its only client;
//   - an operating-time tracker per method, fed by `time.operating` and
//     `operating_reset_at` of every response (and of every batch command): a
//     method whose budget is spent waits for its reset instead of polling;
//   - an in-flight cap and a queue served fairly across callers (start-time
//     fair queueing: each caller's next job is tagged after its previous one,
//     so a caller with a thousand queued jobs delays another caller's single
//     job by at most one); other portals have their own queues, so a flood on
//     one portal never delays another;
//   - adaptive pacing: a QUERY_LIMIT_EXCEEDED that still arrives (other apps
//     share the bucket) empties our estimate and slows the drain; successes
//     bring it back.
// Retries are bounded, jittered and never outlive the caller's deadline. A
// request that changes data is repeated only when the portal surely did not
// run it (limit errors, connection never made); otherwise the caller learns it
// may have been executed (ErrorInfo metadata may_have_executed=true) whenever
// the request was sent. An attempt's HTTP timeout ends kReplyMargin before the
// caller's deadline, so that answer reaches the caller before its own timer.
//
// The executor knows no Bitrix24 JSON: each Job brings `judge`, which reads a
// response and returns a Verdict. Thread-safety: all methods from any thread;
// callbacks run on transport or clock threads without locks held.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/http/transport.h"

namespace b24::exec {

enum class Outcome {
  kSuccess,         // deliver
  kFinal,           // deliver the error
  kTransient,       // retry (if allowed for the job) with backoff
  kRateLimited,     // QUERY_LIMIT_EXCEEDED: not executed; retry after the bucket drains
  kOperatingLimit,  // OPERATION_TIME_LIMIT: not executed; retry after the method's reset
  kRetryNow,        // the judge repaired something (e.g. refreshed a token): repeat once, no delay
};

// Operating time the portal reported for one method.
struct OperatingSample {
  std::string method;
  double operating = 0;       // seconds used in the current 10-minute window
  int64_t reset_at = 0;       // unix seconds; 0 = unknown
  double cost = 0;            // server time this request spent in the method (`processing`)
};

struct Verdict {
  Outcome outcome = Outcome::kSuccess;
  absl::Status status;                     // the error for every outcome but kSuccess
  // The portal surely did not run the request (limit errors, connection never
  // made, the portal's own refusal). A write that fails without it is
  // reported with may_have_executed; a transient one is repeated only with it.
  bool surely_not_executed = false;
  std::vector<OperatingSample> operating;  // feeds the operating tracker
};

struct Job {
  std::string portal;   // bucket key: the portal host
  std::string caller;   // fairness key (e.g. the gRPC peer); "" = anonymous
  std::string method;   // REST method (for a batch: "batch"; its commands' methods in `gated_methods`)
  std::vector<std::string> gated_methods;  // methods whose operating budget must allow this request
  bool idempotent = true;
  absl::Time deadline = absl::InfiniteFuture();
  // Builds the request for an attempt (credentials may change between attempts).
  std::function<absl::StatusOr<http::HttpRequest>()> build;
  // Reads an attempt's result.
  std::function<Verdict(absl::StatusOr<http::HttpResponse>)> judge;
};

// The final status of a job: OK when judge said kSuccess.
using JobDone = std::function<void(absl::Status)>;

struct PortalLimits {
  double drain_per_second = 2;
  int burst = 50;
};

// How long before the caller's deadline an attempt is abandoned: time for the
// gateway's status (with may_have_executed) to reach the caller first.
inline constexpr absl::Duration kReplyMargin = absl::Milliseconds(20);

struct ExecutorOptions {
  PortalLimits standard{2, 50};
  PortalLimits enterprise{5, 250};
  std::map<std::string, std::string> plans;  // portal host → "standard" | "enterprise"
  int safety_margin = 2;                     // requests kept free in the bucket for jitter
  int max_in_flight_per_portal = 8;
  double operating_limit = 480;              // seconds per 10 minutes per method
  bool handle_query_limit_exceeded = true;
  bool handle_operation_time_limit = true;
  int max_attempts = 4;                      // for transient failures
  int max_limit_retries = 20;                // for QUERY_LIMIT_EXCEEDED / OPERATION_TIME_LIMIT
  absl::Duration retry_base_delay = absl::Milliseconds(500);
  absl::Duration retry_max_delay = absl::Seconds(10);
  // An attempt is started only when at least this much of the caller's
  // deadline is left; otherwise the job fails with DEADLINE_EXCEEDED
  // (DEADLINE_BEFORE_SEND) without reaching the portal, so a write never runs
  // for a caller who has already been told it timed out.
  absl::Duration min_attempt_time = absl::Milliseconds(50);
  uint64_t seed = 0x5eed;
};

// Counters of one (portal, method), for metrics.
struct MethodCounters {
  int64_t requests = 0;          // HTTP requests sent
  int64_t retries = 0;           // of which repeats
  int64_t limit_waits = 0;       // times a request waited for the bucket or the operating budget
  int64_t query_limit_exceeded = 0;   // 503s received
  int64_t operation_time_limit = 0;   // 429s received
  int64_t failures = 0;          // jobs that ended in an error
};

class Executor {
 public:
  Executor(http::Transport& transport, Clock& clock, Logger& log, ExecutorOptions options);
  ~Executor();

  void Submit(Job job, JobDone done);
  // Fails every queued job with `status` and every later Submit too (shutdown).
  void CancelAll(absl::Status status);

  // Snapshot of counters: portal → method → counters.
  std::map<std::string, std::map<std::string, MethodCounters>> Counters();
  // Sets a portal's plan ("standard" / "enterprise") unless the configuration
  // named one; e.g. from app.info's LICENSE_FAMILY.
  void SetDetectedPlan(const std::string& portal, const std::string& plan);

  // Current effective drain rate of a portal (after adaptive slow-down).
  double EffectiveDrain(const std::string& portal);
  // Jobs queued or in flight (all portals).
  int Pending();
  // Requests in flight (all portals).
  int InFlight();

 private:
  struct Task;
  struct Portal;
  Portal& PortalFor(const std::string& host);  // mu_ held
  void DrainBucket(Portal& p, absl::Time now);  // mu_ held
  void Pump(const std::string& host);
  void Dispatch(std::shared_ptr<Task> task);
  void OnResult(std::shared_ptr<Task> task, absl::StatusOr<http::HttpResponse> result);
  void Fail(std::shared_ptr<Task> task, absl::Status status);
  absl::Duration Backoff(int attempt);  // mu_ held

  http::Transport& transport_;
  Clock& clock_;
  Logger& log_;
  ExecutorOptions options_;
  std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::string, std::unique_ptr<Portal>> portals_;
  std::shared_ptr<std::atomic<bool>> alive_;  // read by timers that may outlive the executor
  absl::Status closed_;  // non-OK after CancelAll
};

}  // namespace b24::exec
