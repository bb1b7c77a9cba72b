#include "service/exec/executor.h"

#include <algorithm>
#include <deque>

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
  return ErrorWithDetail(failure.code(),
                         absl::StrCat(failure.message(), "; ", method,
                                      " changes data and may have been executed, so it was not retried"),
                         std::move(d));
}

}  // namespace

struct Executor::Task {
  Job job;
  JobDone done;
  int attempts = 0;        // sent so far
  int limit_retries = 0;   // repeats caused by limit errors
  uint64_t tag = 0;        // fair-queueing order within the portal
  absl::Time not_before = absl::InfinitePast();
};

struct Executor::Portal {
  PortalLimits limits;
  double drain = 2;                 // effective drain (adaptive)
  double level = 0;                 // estimated bucket level
  absl::Time level_at = absl::InfinitePast();
  int in_flight = 0;
  int success_streak = 0;
  absl::Time wake_at = absl::InfiniteFuture();  // armed timer
  std::multimap<uint64_t, std::shared_ptr<Task>> queue;  // by fair tag
  uint64_t virtual_time = 0;                          // tag of the last job dispatched
  std::map<std::string, uint64_t> last_tag;           // per caller
  struct Method {
    double operating = 0;
    int64_t reset_at = 0;
    double avg_cost = 0;
    int in_flight = 0;
    absl::Time blocked_until = absl::InfinitePast();
    bool probing = false;  // after a block: one request until a fresh sample arrives
  };
  std::map<std::string, Method> methods;
  std::map<std::string, MethodCounters> counters;
};

Executor::Executor(http::Transport& transport, Clock& clock, Logger& log, ExecutorOptions options)
    : transport_(transport), clock_(clock), log_(log), options_(std::move(options)), rng_(options_.seed),
      alive_(std::make_shared<std::atomic<bool>>(true)) {}

Executor::~Executor() { *alive_ = false; }

Executor::Portal& Executor::PortalFor(const std::string& host) {
  auto& p = portals_[host];
  if (!p) {
    p = std::make_unique<Portal>();
    auto plan = options_.plans.find(host);
    p->limits = plan != options_.plans.end() && plan->second == "enterprise" ? options_.enterprise : options_.standard;
    p->drain = p->limits.drain_per_second;
  }
  return *p;
}

void Executor::DrainBucket(Portal& p, absl::Time now) {
  if (p.level_at != absl::InfinitePast() && now > p.level_at) {
    p.level = std::max(0.0, p.level - p.drain * absl::ToDoubleSeconds(now - p.level_at));
  }
  p.level_at = std::max(p.level_at, now);
}

void Executor::Submit(Job job, JobDone done) {
  auto task = std::make_shared<Task>();
  task->job = std::move(job);
  task->done = std::move(done);
  if (task->job.gated_methods.empty()) task->job.gated_methods.push_back(task->job.method);
  std::string host = task->job.portal;
  absl::Status closed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed = closed_;
    if (closed.ok()) {
      Portal& p = PortalFor(host);
      uint64_t& last = p.last_tag[task->job.caller];
      task->tag = last = std::max(last, p.virtual_time) + 1;
      p.queue.emplace(task->tag, task);
      if (p.last_tag.size() > 1000) {  // forget callers that have nothing queued
        for (auto it = p.last_tag.begin(); it != p.last_tag.end();) {
          it = it->second <= p.virtual_time ? p.last_tag.erase(it) : std::next(it);
        }
      }
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
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = status;
    for (auto& [host, p] : portals_) {
      for (auto& [tag, t] : p->queue) queued.push_back(t);
      p->queue.clear();
    }
  }
  for (auto& t : queued) t->done(status);
}

absl::Duration Executor::Backoff(int attempt) {
  absl::Duration d = options_.retry_base_delay * (1 << std::min(attempt - 1, 16));
  d = std::min(d, options_.retry_max_delay);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return d * jitter(rng_);
}

void Executor::Pump(const std::string& host) {
  std::vector<std::shared_ptr<Task>> to_send;
  std::vector<std::pair<std::shared_ptr<Task>, absl::Status>> to_fail;
  absl::Time arm = absl::InfiniteFuture();
  {
    std::lock_guard<std::mutex> lock(mu_);
    Portal& p = PortalFor(host);
    absl::Time now = clock_.Now();
    DrainBucket(p, now);
    if (p.wake_at <= now) p.wake_at = absl::InfiniteFuture();
    const double capacity = std::max(1, p.limits.burst - options_.safety_margin);
    int ahead = 0;  // sendable tasks ahead of the one examined, for the deadline estimate
    for (auto it = p.queue.begin(); it != p.queue.end();) {
      Task& t = *it->second;
      absl::Time ready = t.not_before;
      std::string blocked_method;
      for (const std::string& m : t.job.gated_methods) {
        Portal::Method& pm = p.methods[m];
        if (pm.blocked_until > ready) {
          ready = pm.blocked_until;
          blocked_method = m;
        }
        if (pm.probing && pm.in_flight > 0 && ready < now + absl::Milliseconds(1)) ready = now + absl::Milliseconds(1);
      }
      double wait_bucket = std::max(0.0, (p.level + ahead + 1 - capacity) / p.drain);
      absl::Time earliest = std::max(ready, now + absl::Seconds(wait_bucket));
      if (earliest + options_.min_attempt_time > t.job.deadline) {
        std::string why = !blocked_method.empty() ? std::string()
            : earliest <= now
            ? absl::StrCat("only ", absl::FormatDuration(std::max(t.job.deadline - now, absl::ZeroDuration())),
                           " of it is left, less than http.min_attempt_time (",
                           absl::FormatDuration(options_.min_attempt_time), ")")
            : absl::StrCat("the portal's request rate (", p.drain, "/s) needs ", absl::FormatDuration(earliest - now),
                           " before it can be sent");
        if (!blocked_method.empty()) {
          why = absl::StrCat("method ", blocked_method, " has spent its operating-time budget until ",
                             absl::FormatTime(ready, absl::UTCTimeZone()));
        }
        absl::Status s = blocked_method.empty()
            ? GatewayError(absl::StatusCode::kDeadlineExceeded, "DEADLINE_BEFORE_SEND",
                           absl::StrCat(t.job.method, " on ", host, " cannot be sent before the deadline: ", why))
            : GatewayError(absl::StatusCode::kResourceExhausted, "OPERATION_TIME_LIMIT",
                           absl::StrCat(t.job.method, " on ", host, " cannot be sent before the deadline: ", why));
        to_fail.emplace_back(it->second, s);
        it = p.queue.erase(it);
        continue;
      }
      bool method_ready = ready <= now;
      bool probe_busy = false;
      for (const std::string& m : t.job.gated_methods) {
        Portal::Method& pm = p.methods[m];
        if (pm.probing && pm.in_flight > 0) probe_busy = true;
      }
      if (!method_ready || probe_busy) {
        if (!probe_busy) arm = std::min(arm, ready);
        ++it;
        continue;
      }
      if (p.in_flight >= options_.max_in_flight_per_portal) break;  // resumes when one completes
      if (p.level + 1 > capacity + 1e-9) {
        // At least a millisecond: a timer due "now" would run Pump again at once.
        arm = std::min(arm, now + std::max(absl::Milliseconds(1), absl::Seconds((p.level + 1 - capacity) / p.drain)));
        for (const std::string& m : t.job.gated_methods) p.counters[m].limit_waits += t.attempts == 0;
        break;
      }
      p.level += 1;
      p.in_flight++;
      for (const std::string& m : t.job.gated_methods) p.methods[m].in_flight++;
      auto& c = p.counters[t.job.method];
      c.requests++;
      if (t.attempts > 0) c.retries++;
      p.virtual_time = std::max(p.virtual_time, t.tag);
      to_send.push_back(it->second);
      it = p.queue.erase(it);
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

void Executor::Dispatch(std::shared_ptr<Task> task) {
  task->attempts++;
  absl::StatusOr<http::HttpRequest> request = task->job.build();
  if (!request.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      Portal& p = PortalFor(task->job.portal);
      p.in_flight--;
      p.level = std::max(0.0, p.level - 1);  // nothing was sent
      for (const std::string& m : task->job.gated_methods) p.methods[m].in_flight--;
    }
    Fail(task, request.status());
    Pump(task->job.portal);
    return;
  }
  absl::Duration left = task->job.deadline - clock_.Now() - kReplyMargin;
  if (left < options_.min_attempt_time && task->job.deadline != absl::InfiniteFuture()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      Portal& p = PortalFor(task->job.portal);
      p.in_flight--;
      p.level = std::max(0.0, p.level - 1);  // nothing was sent
      for (const std::string& m : task->job.gated_methods) p.methods[m].in_flight--;
    }
    Fail(task, http::MarkNotSent(GatewayError(
                   absl::StatusCode::kDeadlineExceeded, "DEADLINE_BEFORE_SEND",
                   absl::StrCat(task->job.method, " on ", task->job.portal, " was not sent: ",
                                absl::FormatDuration(std::max(left + kReplyMargin, absl::ZeroDuration())),
                                " of the deadline were left, less than http.min_attempt_time (",
                                absl::FormatDuration(options_.min_attempt_time), ")"))));
    Pump(task->job.portal);
    return;
  }
  request->timeout = std::min(request->timeout, left);
  request->idempotent = task->job.idempotent;
  transport_.Send(std::move(*request), [this, task](absl::StatusOr<http::HttpResponse> result) {
    OnResult(task, std::move(result));
  });
}

void Executor::OnResult(std::shared_ptr<Task> task, absl::StatusOr<http::HttpResponse> result) {
  Verdict v = task->job.judge(std::move(result));
  const std::string& host = task->job.portal;
  bool deliver = false, fail = false;
  absl::Status failure = v.status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Portal& p = PortalFor(host);
    absl::Time now = clock_.Now();
    p.in_flight--;
    for (const std::string& m : task->job.gated_methods) p.methods[m].in_flight--;
    for (const OperatingSample& s : v.operating) {
      Portal::Method& m = p.methods[s.method];
      m.operating = s.operating;
      m.reset_at = s.reset_at;
      m.probing = false;
      if (s.cost > 0) m.avg_cost = m.avg_cost == 0 ? s.cost : 0.8 * m.avg_cost + 0.2 * s.cost;
      // The portal rejects a call only when operating is already above the
      // limit; keep room for the calls of this method still in flight.
      if (m.operating + m.avg_cost * m.in_flight > options_.operating_limit) {
        m.blocked_until = s.reset_at > 0 ? absl::FromUnixSeconds(s.reset_at + 1) : now + absl::Seconds(60);
        m.probing = true;
      }
    }
    auto& counters = p.counters[task->job.method];
    auto requeue_at = [&](absl::Time when) {
      if (!closed_.ok()) {
        fail = true;
        failure = closed_;
        return;
      }
      task->not_before = when;
      p.queue.emplace(task->tag, task);  // keeps its place
    };
    switch (v.outcome) {
      case Outcome::kSuccess:
        deliver = true;
        if (++p.success_streak >= 20 && p.drain < p.limits.drain_per_second) {
          p.drain = std::min(p.limits.drain_per_second, p.drain * 1.1);
          p.success_streak = 0;
        }
        break;
      case Outcome::kFinal:
        fail = true;
        break;
      case Outcome::kRateLimited:
        counters.query_limit_exceeded++;
        p.success_streak = 0;
        // The bucket is fuller than we thought: treat it as full.
        DrainBucket(p, now);
        p.level = std::max<double>(p.level, std::max(1, p.limits.burst - options_.safety_margin));
        p.drain = std::max(p.limits.drain_per_second * 0.25, p.drain * 0.8);
        if (!options_.handle_query_limit_exceeded || ++task->limit_retries > options_.max_limit_retries) {
          fail = true;
        } else {
          requeue_at(now);
        }
        break;
      case Outcome::kOperatingLimit: {
        counters.operation_time_limit++;
        for (const std::string& name : task->job.gated_methods) {
          Portal::Method& m = p.methods[name];
          absl::Time reset = m.reset_at > 0 ? absl::FromUnixSeconds(m.reset_at + 1) : absl::InfinitePast();
          m.blocked_until = reset > now ? reset : now + absl::Seconds(60);
          m.probing = true;
        }
        if (!options_.handle_operation_time_limit || ++task->limit_retries > options_.max_limit_retries) {
          fail = true;
        } else {
          requeue_at(now);
        }
        break;
      }
      case Outcome::kRetryNow:
        if (task->attempts > options_.max_attempts) {
          fail = true;
        } else {
          requeue_at(now);
        }
        break;
      case Outcome::kTransient:
        if (!task->job.idempotent && !v.surely_not_executed) {
          fail = true;  // marked below: a write is never repeated after an ambiguous failure
        } else if (task->attempts >= options_.max_attempts) {
          failure = ErrorWithDetail(failure.code(),
                                    absl::StrCat(failure.message(), " (gave up after ", task->attempts, " attempts)"),
                                    GetErrorDetail(failure).value_or(ErrorDetail{"UPSTREAM_FAILURE",
                                                                                 std::string(kDomainGateway), {}}));
          fail = true;
        } else {
          absl::Time when = now + Backoff(task->attempts);
          if (when + options_.min_attempt_time > task->job.deadline) {
            fail = true;
          } else {
            requeue_at(when);
          }
        }
        break;
    }
    if (fail) {
      counters.failures++;
      if (!task->job.idempotent && !v.surely_not_executed) failure = MayHaveExecuted(failure, task->job.method);
    }
  }
  if (deliver) task->done(absl::OkStatus());
  if (fail) task->done(failure);
  Pump(host);
}

void Executor::Fail(std::shared_ptr<Task> task, absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    PortalFor(task->job.portal).counters[task->job.method].failures++;
  }
  task->done(std::move(status));
}

std::map<std::string, std::map<std::string, MethodCounters>> Executor::Counters() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::map<std::string, MethodCounters>> out;
  for (auto& [host, p] : portals_) out[host] = p->counters;
  return out;
}

void Executor::SetDetectedPlan(const std::string& portal, const std::string& plan) {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.plans.count(portal)) return;  // configured plans win
  Portal& p = PortalFor(portal);
  PortalLimits limits = plan == "enterprise" ? options_.enterprise : options_.standard;
  if (limits.drain_per_second == p.limits.drain_per_second && limits.burst == p.limits.burst) return;
  p.drain = p.drain / p.limits.drain_per_second * limits.drain_per_second;  // keep any adaptive slow-down
  p.limits = limits;
  log_.Info(absl::StrCat("portal ", portal, " is on the ", plan, " plan: ", limits.drain_per_second, " requests/s, burst ",
                         limits.burst));
}

double Executor::EffectiveDrain(const std::string& portal) {
  std::lock_guard<std::mutex> lock(mu_);
  return PortalFor(portal).drain;
}

int Executor::InFlight() {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (auto& [host, p] : portals_) n += p->in_flight;
  return n;
}

int Executor::Pending() {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (auto& [host, p] : portals_) n += static_cast<int>(p->queue.size()) + p->in_flight;
  return n;
}

}  // namespace b24::exec
