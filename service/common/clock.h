// Clock: the only source of time for everything that waits or expires.
//
// Production code takes a Clock& and never calls absl::Now() or sleeps; tests
// pass a FakeClock (tests/testing/fake_clock.h) and move time by hand, so no
// test waits for real time. RunAt() is how components wait: they schedule a
// continuation instead of blocking a thread.
//
// Thread-safety: all methods may be called from any thread. Callbacks run on
// the clock's timer thread (RealClock) or inside FakeClock::Advance(); they
// must not block.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace b24 {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Runs `fn` once Now() >= when (at once, on the timer thread, if it already is).
  virtual void RunAt(absl::Time when, std::function<void()> fn) = 0;
  void RunAfter(absl::Duration d, std::function<void()> fn) { RunAt(Now() + d, std::move(fn)); }
};

// Wall-clock time with one timer thread. Destruction drops pending timers.
class RealClock final : public Clock {
 public:
  RealClock();
  ~RealClock() override;
  // Stops the timer thread and drops pending timers; later RunAt() calls are
  // ignored. Idempotent. Used at shutdown before the timers' targets go away.
  void Stop();
  absl::Time Now() override { return absl::Now(); }
  void RunAt(absl::Time when, std::function<void()> fn) override;

 private:
  void Loop();
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::multimap<absl::Time, std::function<void()>> timers_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace b24
