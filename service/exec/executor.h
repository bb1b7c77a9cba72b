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
// The executor is the composition of small policies, each a value type with
// its own tests in pure time: RequestBucket/LeakyBucket (leaky_bucket.h),
// OperatingBudget (operating_budget.h), FairQueue (fair_queue.h) and
// RetryPolicy (retry_policy.h). It knows no Bitrix24 JSON: each Job brings
// `judge`, which reads a response and returns a Verdict.
// Thread-safety: all methods from any thread; one mutex guards the policies.
// Callbacks (`done`, `build`, `judge`) run on transport, clock or the
// submitting thread without the executor's lock held; `done` may run before
// Submit() returns (a job refused at once).
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/exec/fair_queue.h"
#include "service/exec/leaky_bucket.h"
#include "service/exec/operating_budget.h"
#include "service/exec/retry_policy.h"
#include "service/http/transport.h"

namespace b24::exec {

struct Verdict {
  Outcome outcome = Outcome::kSuccess;
  absl::Status status;  // the error for every outcome but kSuccess
  // The portal surely did not run the request (limit errors, connection never
  // made, the portal's own refusal). A write that fails without it is
  // reported with may_have_executed; a transient one is repeated only with it.
  bool surely_not_executed = false;
  std::vector<OperatingSample> operating;  // feeds the operating budget
};

struct Job {
  std::string portal;  // bucket key: the portal host
  std::string caller;  // fairness key (e.g. the gRPC peer); "" = anonymous
  std::string method;  // REST method (for a batch: "batch"; its commands' methods in `gated_methods`)
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

// How long before the caller's deadline an attempt is abandoned: time for the
// gateway's status (with may_have_executed) to reach the caller first.
inline constexpr absl::Duration kReplyMargin = absl::Milliseconds(20);

// Makes the bucket of a portal (host) on first use: the in-process
// LeakyBucket by default; a bucket shared by replicas can be plugged in here.
using BucketFactory = std::function<std::unique_ptr<RequestBucket>(const std::string& portal, PortalLimits limits)>;

// A portal's plan: which bucket Bitrix24 gives it (PROTOCOL.md §3.1).
enum class Plan { kStandard, kEnterprise };
// "standard" / "enterprise" (any case); false for anything else.
bool ParsePlan(const std::string& text, Plan* out);
const char* PlanName(Plan plan);

struct ExecutorOptions {
  PortalLimits standard{2, 50};
  PortalLimits enterprise{5, 250};
  std::map<std::string, Plan> plans;         // portal host → plan, from the configuration
  int safety_margin = kDefaultSafetyMargin;  // requests kept free in the bucket for jitter
  int max_in_flight_per_portal = 8;
  double operating_limit = 480;  // seconds per 10 minutes per method
  // Attempts, backoff, limit handling and the minimum time an attempt needs
  // (an attempt is started only when at least retry.min_attempt_time of the
  // caller's deadline is left; otherwise the job fails with DEADLINE_EXCEEDED
  // DEADLINE_BEFORE_SEND without reaching the portal, so a write never runs for
  // a caller who has already been told it timed out).
  RetryOptions retry;
  uint64_t seed = 0x5eed;
  BucketFactory make_bucket;  // empty: LeakyBucket
};

// Counters of one (portal, method), for metrics.
struct MethodCounters {
  int64_t requests = 0;              // HTTP requests sent
  int64_t retries = 0;               // of which repeats
  int64_t limit_waits = 0;           // times a request waited for the bucket or the operating budget
  int64_t query_limit_exceeded = 0;  // 503s received
  int64_t operation_time_limit = 0;  // 429s received
  int64_t failures = 0;              // jobs that ended in an error
  // Time requests waited in the queue for the bucket / the operating budget.
  double bucket_wait_seconds = 0, budget_wait_seconds = 0;
  // The method's operating time in the portal's current 10-minute window, as
  // the last answer reported it.
  double operating_seconds = 0;
  std::array<int64_t, kOutcomeCount> outcomes{};  // answers, indexed by Outcome
};

// One portal's executor state, for metrics.
struct PortalSnapshot {
  std::string host;
  double bucket_level = 0;  // estimated requests in the portal's bucket
  double drain = 0;         // effective drain (requests/s) in force
  int in_flight = 0, queued = 0;
  std::map<std::string, MethodCounters> methods;
};

class Executor {
 public:
  Executor(http::Transport& transport, Clock& clock, Logger& log, ExecutorOptions options);
  ~Executor();

  void Submit(Job job, JobDone done);
  // Fails every queued job with `status` and every later Submit too (shutdown).
  void CancelAll(absl::Status status);

  // Every portal's state and counters (for metrics; O(portals) under the lock).
  std::vector<PortalSnapshot> Snapshot();
  // Snapshot of counters: portal → method → counters.
  std::map<std::string, std::map<std::string, MethodCounters>> Counters();
  // Sets a portal's plan unless the configuration named one; e.g. from
  // app.info's LICENSE_FAMILY.
  void SetDetectedPlan(const std::string& portal, Plan plan);

  // Current effective drain rate of a portal (after adaptive slow-down).
  double EffectiveDrain(const std::string& portal);
  // Jobs queued or in flight (all portals).
  int Pending();
  // Requests in flight (all portals).
  int InFlight();

 private:
  struct Task;
  struct Portal;
  Portal& PortalFor(const std::string& host) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Pump(const std::string& host);
  void Dispatch(std::shared_ptr<Task> task);
  void Unsend(Task& task) ABSL_LOCKS_EXCLUDED(mu_);  // gives back what Pump took for a request never sent
  void OnResult(std::shared_ptr<Task> task, absl::StatusOr<http::HttpResponse> result);
  void Fail(std::shared_ptr<Task> task, absl::Status status);
  double Jitter() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  http::Transport& transport_;
  Clock& clock_;
  Logger& log_;
  ExecutorOptions options_;
  RetryPolicy retry_;
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<Portal>> portals_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<std::atomic<bool>> alive_;  // read by timers that may outlive the executor
  absl::Status closed_ ABSL_GUARDED_BY(mu_);  // non-OK after CancelAll
};

}  // namespace b24::exec
