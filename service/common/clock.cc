#include "service/common/clock.h"

namespace b24 {

RealClock::RealClock() : thread_([this] { Loop(); }) {}

RealClock::~RealClock() { Stop(); }

void RealClock::Stop() {
  std::multimap<absl::Time, std::function<void()>> dropped;  // destroyed outside the lock
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    dropped.swap(timers_);
    cv_.SignalAll();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void RealClock::RunAt(absl::Time when, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  timers_.emplace(when, std::move(fn));
  cv_.SignalAll();
}

void RealClock::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    if (timers_.empty()) {
      cv_.Wait(&mu_);
      continue;
    }
    absl::Time first = timers_.begin()->first;
    if (first > absl::Now()) {
      cv_.WaitWithDeadline(&mu_, first);
      continue;
    }
    auto fn = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    mu_.Unlock();
    fn();  // without the lock: a timer may schedule another
    mu_.Lock();
  }
}

}  // namespace b24
