// FakeClock: a Clock whose time moves only when a test calls Advance()/Set().
// Timers due at or before the new time run inside Advance(), in time order,
// on the calling thread (with no lock held, so they may schedule more timers).
#pragma once

#include <functional>
#include <map>
#include <mutex>

#include "service/common/clock.h"

namespace b24::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}

  absl::Time Now() override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }

  void RunAt(absl::Time when, std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (when > now_) {
        timers_.emplace(when, std::move(fn));
        return;
      }
    }
    fn();
  }

  void Advance(absl::Duration d) { Set(Now() + d); }

  void Set(absl::Time t) {
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (timers_.empty() || timers_.begin()->first > t) {
          if (t > now_) now_ = t;
          return;
        }
        if (timers_.begin()->first > now_) now_ = timers_.begin()->first;
        fn = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
      }
      fn();
    }
  }

  // Time of the earliest pending timer, or InfiniteFuture.
  absl::Time NextTimer() {
    std::lock_guard<std::mutex> lock(mu_);
    return timers_.empty() ? absl::InfiniteFuture() : timers_.begin()->first;
  }

  size_t PendingTimers() {
    std::lock_guard<std::mutex> lock(mu_);
    return timers_.size();
  }

 private:
  std::mutex mu_;
  absl::Time now_;
  std::multimap<absl::Time, std::function<void()>> timers_;
};

}  // namespace b24::testing
