#include "service/common/clock.h"

namespace b24 {

RealClock::RealClock() : thread_([this] { Loop(); }) {}

RealClock::~RealClock() { Stop(); }

void RealClock::Stop() {
  std::multimap<absl::Time, std::function<void()>> dropped;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    dropped.swap(timers_);
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void RealClock::RunAt(absl::Time when, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    timers_.emplace(when, std::move(fn));
  }
  cv_.notify_all();
}

void RealClock::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (timers_.empty()) {
      cv_.wait(lock);
      continue;
    }
    absl::Time first = timers_.begin()->first;
    absl::Time now = absl::Now();
    if (first > now) {
      cv_.wait_for(lock, absl::ToChronoNanoseconds(first - now));
      continue;
    }
    auto fn = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace b24
