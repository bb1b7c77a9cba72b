#include "service/app/store_health.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace b24::app {

StoreVerdict StoreHealthDecide(const StoreProbe& probe, absl::Time now, absl::Duration timeout) {
  if (probe.outstanding && now - probe.sent >= timeout) {
    return {false, absl::StrCat("the token store has not answered for ", absl::FormatDuration(now - probe.sent))};
  }
  if (!probe.last.ok()) return {false, absl::StrCat("the token store is unreachable: ", probe.last.message())};
  return {true, ""};
}

struct StoreHealth::State {
  State(std::function<absl::Status()> ping, Post post, Clock& clock, Logger& log, StoreHealthOptions options,
        Report report)
      : ping(std::move(ping)),
        post(std::move(post)),
        clock(clock),
        log(log),
        options(options),
        report(std::move(report)) {}

  const std::function<absl::Status()> ping;
  const Post post;
  Clock& clock;
  Logger& log;
  const StoreHealthOptions options;
  const Report report;

  mutable absl::Mutex mu;
  StoreProbe probe ABSL_GUARDED_BY(mu);
  bool serving ABSL_GUARDED_BY(mu) = true;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  // Held while a verdict is applied, so that reports arrive in order and
  // Stop() can wait for the one in progress.
  absl::Mutex report_mu ABSL_ACQUIRED_BEFORE(mu);

  // Decides and reports, if the verdict changed.
  static void Apply(const std::shared_ptr<State>& s) {
    absl::MutexLock report_lock(&s->report_mu);
    StoreVerdict verdict;
    {
      absl::MutexLock lock(&s->mu);
      if (s->stopped) return;
      verdict = StoreHealthDecide(s->probe, s->clock.Now(), s->options.timeout);
      if (verdict.serving == s->serving) return;
      s->serving = verdict.serving;
    }
    if (verdict.serving) {
      s->log.Info("the token store answers again: health is SERVING");
    } else {
      s->log.Warning(verdict.why, ": health is NOT_SERVING until it answers");
    }
    s->report(verdict.serving, verdict.why);
  }

  static void Tick(const std::shared_ptr<State>& s) {
    bool send = false;
    {
      absl::MutexLock lock(&s->mu);
      if (s->stopped) return;
      if (!s->probe.outstanding) {
        s->probe.outstanding = true;
        s->probe.sent = s->clock.Now();
        send = true;
      }
    }
    Apply(s);  // an outstanding ping may have timed out
    if (send) {
      s->post([s] {
        absl::Status status = s->ping();
        {
          absl::MutexLock lock(&s->mu);
          s->probe.outstanding = false;
          s->probe.last = std::move(status);
        }
        Apply(s);
      });
    }
    std::weak_ptr<State> weak = s;
    s->clock.RunAfter(s->options.interval, [weak] {
      if (std::shared_ptr<State> s = weak.lock()) Tick(s);
    });
  }
};

StoreHealth::StoreHealth(std::function<absl::Status()> ping, Post post, Clock& clock, Logger& log,
                         StoreHealthOptions options, Report report)
    : state_(std::make_shared<State>(std::move(ping), std::move(post), clock, log, options, std::move(report))) {}

StoreHealth::~StoreHealth() { Stop(); }

void StoreHealth::Start() { State::Tick(state_); }

void StoreHealth::Stop() {
  absl::MutexLock report_lock(&state_->report_mu);
  absl::MutexLock lock(&state_->mu);
  state_->stopped = true;
}

bool StoreHealth::serving() const {
  absl::MutexLock lock(&state_->mu);
  return state_->serving;
}

}  // namespace b24::app
