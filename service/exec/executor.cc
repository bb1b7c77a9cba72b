#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/exec/executor.h"

#include <algorithm>
#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/common/status.h"

namespace b24::exec {
namespace {

// The request was sent and its fate is unknown: say so, in the message and in
// ErrorInfo, so a caller never repeats a write that ran.
absl::Status MayHaveExecuted(const absl::Status& failure, const std::string& method) {
  ErrorDetail d = GetErrorDetail(failure).value_or(ErrorDetail{"UPSTREAM_FAILURE", std::string(kDomainGateway), {}});
  if (d.metadata["may_have_executed"] == "true") return failure;
  d.metadata["may_have_executed"] = "true";
  return ErrorWithDetail(
      failure.code(),
      absl::StrCat(failure.message(), "; ", method, " changes data and may have been executed, so it was not retried"),
      std::move(d));
}

absl::Status GaveUp(const absl::Status& failure, int attempts) {
  return ErrorWithDetail(
      failure.code(), absl::StrCat(failure.message(), " (gave up after ", attempts, " attempts)"),
      GetErrorDetail(failure).value_or(ErrorDetail{"UPSTREAM_FAILURE", std::string(kDomainGateway), {}}));
}

// A timer due "now" would run Pump again at once: wait at least this long.
constexpr absl::Duration kMinTimer = absl::Milliseconds(1);

}  // namespace

bool ParsePlan(const std::string& text, Plan* out) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "standard")
    *out = Plan::kStandard;
  else if (t == "enterprise")
    *out = Plan::kEnterprise;
  else
    return false;
  return true;
}

const char* PlanName(Plan plan) { return plan == Plan::kEnterprise ? "enterprise" : "standard"; }

struct Executor::Task {
  Job job;
  JobDone done;
  int attempts = 0;       // sent so far
  int limit_retries = 0;  // repeats caused by limit errors
  uint64_t tag = 0;       // fair-queueing order within the portal
  absl::Time not_before = absl::InfinitePast();
  absl::Time waiting_since = absl::InfinitePast();  // for the wait metrics
  bool budget_blocked = false;                      // waited for the operating budget
};

struct Executor::Portal {
  std::unique_ptr<RequestBucket> bucket;
  OperatingBudget budget;
  FairQueue<std::shared_ptr<Task>> queue;
  int in_flight = 0;
  absl::Time wake_at = absl::InfiniteFuture();  // armed timer
  std::map<std::string, MethodCounters> counters;
};

Executor::Executor(http::Transport& transport, Clock& clock, Logger& log, ExecutorOptions options)
    : transport_(transport),
      clock_(clock),
      log_(log),
      options_(std::move(options)),
      retry_(options_.retry),
      rng_(options_.seed),
      alive_(std::make_shared<std::atomic<bool>>(true)) {}

Executor::~Executor() { *alive_ = false; }

Executor::Portal& Executor::PortalFor(const std::string& host) {
  auto& p = portals_[host];
  if (!p) {
    p = std::make_unique<Portal>();
    auto plan = options_.plans.find(host);
    PortalLimits limits =
        plan != options_.plans.end() && plan->second == Plan::kEnterprise ? options_.enterprise : options_.standard;
    p->bucket = options_.make_bucket ? options_.make_bucket(host, limits)
                                     : std::make_unique<LeakyBucket>(limits, options_.safety_margin);
    p->budget = OperatingBudget(options_.operating_limit);
  }
  return *p;
}

double Executor::Jitter() {
  std::uniform_real_distribution<double> jitter(1 - kJitter, 1 + kJitter);
  return jitter(rng_);
}

void Executor::Submit(Job job, JobDone done) {
  auto task = std::make_shared<Task>();
  task->job = std::move(job);
  task->done = std::move(done);
  if (task->job.gated_methods.empty()) task->job.gated_methods.push_back(task->job.method);
  std::string host = task->job.portal;
  absl::Status closed;
  {
    absl::MutexLock lock(&mu_);
    closed = closed_;
    if (closed.ok()) {
      Portal& p = PortalFor(host);
      task->waiting_since = clock_.Now();
      task->tag = p.queue.Push(task->job.caller, task);
    }
  }
  if (!closed.ok()) {
    task->done(closed);
    return;
  }
  Pump(host);
}

void Executor::CancelAll(absl::Status status) {
  std::vector<std::shared_ptr<Task>> queued;
  {
    absl::MutexLock lock(&mu_);
    closed_ = status;
    for (auto& [host, p] : portals_) {
      for (auto& t : p->queue.Clear()) queued.push_back(std::move(t));
    }
  }
  for (auto& t : queued) t->done(status);
}

void Executor::Pump(const std::string& host) {
  std::vector<std::shared_ptr<Task>> to_send;
  std::vector<std::pair<std::shared_ptr<Task>, absl::Status>> to_fail;
  absl::Time arm = absl::InfiniteFuture();
  {
    absl::MutexLock lock(&mu_);
    Portal& p = PortalFor(host);
    absl::Time now = clock_.Now();
    if (p.wake_at <= now) p.wake_at = absl::InfiniteFuture();
    int ahead = 0;  // sendable tasks ahead of the one examined, for the deadline estimate
    for (auto it = p.queue.begin(); it != p.queue.end();) {
      Task& t = *it->second;
      // When the operating budget lets this job go.
      absl::Time ready = t.not_before;
      std::string blocked_method;
      bool probe_busy = false;
      for (const std::string& m : t.job.gated_methods) {
        if (absl::Time at = p.budget.ReadyAt(m); at > ready) {
          ready = at;
          blocked_method = m;
        }
        probe_busy = probe_busy || p.budget.ProbeBusy(m);
      }
      if (probe_busy) ready = std::max(ready, now + kMinTimer);
      // When the bucket lets it go, behind the ones already promised.
      absl::Time earliest = std::max(ready, now + p.bucket->WaitFor(now, ahead));
      if (earliest + options_.retry.min_attempt_time > t.job.deadline) {
        std::string why;
        if (!blocked_method.empty()) {
          why = absl::StrCat("method ", blocked_method, " has spent its operating-time budget until ",
                             absl::FormatTime(ready, absl::UTCTimeZone()));
        } else if (earliest <= now) {
          why = absl::StrCat("only ", absl::FormatDuration(std::max(t.job.deadline - now, absl::ZeroDuration())),
                             " of it is left, less than http.min_attempt_time (",
                             absl::FormatDuration(options_.retry.min_attempt_time), ")");
        } else {
          why = absl::StrCat("the portal's request rate (", p.bucket->drain(), "/s) needs ",
                             absl::FormatDuration(earliest - now), " before it can be sent");
        }
        std::string message = absl::StrCat(t.job.method, " on ", host, " cannot be sent before the deadline: ", why);
        absl::Status s =
            blocked_method.empty()
                ? ErrorWithDetail(absl::StatusCode::kDeadlineExceeded, message,
                                  {"DEADLINE_BEFORE_SEND", std::string(kDomainGateway), {{"method", t.job.method}}})
                : ErrorWithDetail(absl::StatusCode::kResourceExhausted, message,
                                  {"OPERATION_TIME_LIMIT", std::string(kDomainGateway), {{"method", blocked_method}}});
        to_fail.emplace_back(it->second, s);
        it = p.queue.Erase(it);
        continue;
      }
      if (ready > now || probe_busy) {
        if (!blocked_method.empty() || probe_busy) t.budget_blocked = true;
        if (!probe_busy) arm = std::min(arm, ready);  // a probe's answer pumps again
        ++it;
        continue;
      }
      if (p.in_flight >= options_.max_in_flight_per_portal) break;  // resumes when one completes
      if (absl::Duration wait = p.bucket->WaitFor(now, 0); wait > absl::ZeroDuration()) {
        arm = std::min(arm, now + std::max(kMinTimer, wait));
        for (const std::string& m : t.job.gated_methods) p.counters[m].limit_waits += t.attempts == 0;
        break;
      }
      p.bucket->Take(now);
      p.in_flight++;
      for (const std::string& m : t.job.gated_methods) p.budget.OnSent(m);
      auto& c = p.counters[t.job.method];
      c.requests++;
      if (t.attempts > 0) c.retries++;
      // Time in the queue past when the task could have gone but for the limits.
      if (absl::Duration waited = now - std::max(t.waiting_since, t.not_before); waited > absl::ZeroDuration()) {
        (t.budget_blocked ? c.budget_wait_seconds : c.bucket_wait_seconds) += absl::ToDoubleSeconds(waited);
      }
      t.budget_blocked = false;
      p.queue.Dispatched(t.tag);
      to_send.push_back(it->second);
      it = p.queue.Erase(it);
      ++ahead;
    }
    if (arm < p.wake_at) {
      p.wake_at = arm;
    } else {
      arm = absl::InfiniteFuture();
    }
  }
  if (arm != absl::InfiniteFuture()) {
    std::weak_ptr<std::atomic<bool>> alive = alive_;
    clock_.RunAt(arm, [this, alive, host] {
      if (auto a = alive.lock(); a && *a) Pump(host);
    });
  }
  for (auto& [task, status] : to_fail) Fail(task, status);
  for (auto& task : to_send) Dispatch(task);
}

void Executor::Unsend(Task& task) {
  absl::MutexLock lock(&mu_);
  Portal& p = PortalFor(task.job.portal);
  p.in_flight--;
  p.bucket->Refund(clock_.Now());
  for (const std::string& m : task.job.gated_methods) p.budget.OnDone(m);
}

void Executor::Dispatch(std::shared_ptr<Task> task) {
  task->attempts++;
  absl::StatusOr<http::HttpRequest> request = task->job.build();
  if (!request.ok()) {
    Unsend(*task);
    Fail(task, request.status());
    Pump(task->job.portal);
    return;
  }
  absl::Duration left = task->job.deadline - clock_.Now() - kReplyMargin;
  if (left < options_.retry.min_attempt_time && task->job.deadline != absl::InfiniteFuture()) {
    Unsend(*task);
    Fail(task, http::MarkNotSent(ErrorWithDetail(
                   absl::StatusCode::kDeadlineExceeded,
                   absl::StrCat(task->job.method, " on ", task->job.portal, " was not sent: ",
                                absl::FormatDuration(std::max(left + kReplyMargin, absl::ZeroDuration())),
                                " of the deadline were left, less than http.min_attempt_time (",
                                absl::FormatDuration(options_.retry.min_attempt_time), ") plus the ",
                                absl::FormatDuration(kReplyMargin), " kept to deliver the answer"),
                   {"DEADLINE_BEFORE_SEND", std::string(kDomainGateway), {{"method", task->job.method}}})));
    Pump(task->job.portal);
    return;
  }
  request->timeout = std::min(request->timeout, left);
  request->idempotent = task->job.idempotent;
  transport_.Send(std::move(*request),
                  [this, task](absl::StatusOr<http::HttpResponse> result) { OnResult(task, std::move(result)); });
}

void Executor::OnResult(std::shared_ptr<Task> task, absl::StatusOr<http::HttpResponse> result) {
  Verdict v = task->job.judge(std::move(result));
  const std::string& host = task->job.portal;
  bool deliver = false, fail = false;
  absl::Status failure = v.status;
  {
    absl::MutexLock lock(&mu_);
    Portal& p = PortalFor(host);
    absl::Time now = clock_.Now();
    p.in_flight--;
    for (const std::string& m : task->job.gated_methods) p.budget.OnDone(m);
    for (const OperatingSample& s : v.operating) {
      p.budget.Record(s, now);
      p.counters[s.method].operating_seconds = s.operating;
    }
    auto& counters = p.counters[task->job.method];
    counters.outcomes[static_cast<int>(v.outcome)]++;
    switch (v.outcome) {
      case Outcome::kSuccess:
        p.bucket->OnSuccess();
        break;
      case Outcome::kRateLimited:
        counters.query_limit_exceeded++;
        p.bucket->OnRateLimited(now);
        ++task->limit_retries;
        break;
      case Outcome::kOperatingLimit:
        counters.operation_time_limit++;
        for (const std::string& m : task->job.gated_methods) p.budget.OnOperatingLimit(m, now);
        ++task->limit_retries;
        break;
      default:
        break;
    }
    RetryPolicy::Attempt a;
    a.outcome = v.outcome;
    a.idempotent = task->job.idempotent;
    a.surely_not_executed = v.surely_not_executed;
    a.attempts = task->attempts;
    a.limit_retries = task->limit_retries;
    a.now = now;
    a.deadline = task->job.deadline;
    // Drawn only when a backoff will be computed, so a seed gives one schedule.
    bool backoff = v.outcome == Outcome::kTransient && (a.idempotent || a.surely_not_executed) &&
                   a.attempts < options_.retry.max_attempts;
    a.jitter = backoff ? Jitter() : 1.0;
    RetryPolicy::Decision d = retry_.Decide(a);
    switch (d.action) {
      case RetryPolicy::Action::kDeliver:
        deliver = true;
        break;
      case RetryPolicy::Action::kRetry:
        if (!closed_.ok()) {
          fail = true;
          failure = closed_;
        } else {
          task->not_before = d.at;
          // A limit's wait counts from now; a backoff's from when it ends.
          bool limit = v.outcome == Outcome::kRateLimited || v.outcome == Outcome::kOperatingLimit;
          task->waiting_since = limit ? now : d.at;
          task->budget_blocked = v.outcome == Outcome::kOperatingLimit;
          p.queue.Requeue(task->tag, task);  // keeps its place
        }
        break;
      case RetryPolicy::Action::kFail:
        fail = true;
        if (d.gave_up) failure = GaveUp(failure, task->attempts);
        if (d.may_have_executed) failure = MayHaveExecuted(failure, task->job.method);
        break;
    }
    if (fail) counters.failures++;
  }
  if (deliver) task->done(absl::OkStatus());
  if (fail) task->done(failure);
  Pump(host);
}

void Executor::Fail(std::shared_ptr<Task> task, absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    PortalFor(task->job.portal).counters[task->job.method].failures++;
  }
  task->done(std::move(status));
}

std::vector<PortalSnapshot> Executor::Snapshot() {
  absl::MutexLock lock(&mu_);
  absl::Time now = clock_.Now();
  std::vector<PortalSnapshot> out;
  out.reserve(portals_.size());
  for (auto& [host, p] : portals_) {
    PortalSnapshot s;
    s.host = host;
    s.bucket_level = p->bucket->Level(now);
    s.drain = p->bucket->drain();
    s.in_flight = p->in_flight;
    s.queued = static_cast<int>(p->queue.size());
    s.methods = p->counters;
    out.push_back(std::move(s));
  }
  return out;
}

std::map<std::string, std::map<std::string, MethodCounters>> Executor::Counters() {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::map<std::string, MethodCounters>> out;
  for (auto& [host, p] : portals_) out[host] = p->counters;
  return out;
}

void Executor::SetDetectedPlan(const std::string& portal, Plan plan) {
  absl::MutexLock lock(&mu_);
  if (options_.plans.count(portal)) return;  // configured plans win
  Portal& p = PortalFor(portal);
  PortalLimits limits = plan == Plan::kEnterprise ? options_.enterprise : options_.standard;
  PortalLimits now = p.bucket->limits();
  if (limits.drain_per_second == now.drain_per_second && limits.burst == now.burst) return;
  p.bucket->SetLimits(limits);
  log_.Info("portal ", portal, " is on the ", PlanName(plan), " plan: ", limits.drain_per_second, " requests/s, burst ",
            limits.burst);
}

double Executor::EffectiveDrain(const std::string& portal) {
  absl::MutexLock lock(&mu_);
  return PortalFor(portal).bucket->drain();
}

int Executor::InFlight() {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (auto& [host, p] : portals_) n += p->in_flight;
  return n;
}

int Executor::Pending() {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (auto& [host, p] : portals_) n += static_cast<int>(p->queue.size()) + p->in_flight;
  return n;
}

}  // namespace b24::exec
