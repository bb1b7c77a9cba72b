// The client-side copy of a portal's request bucket (PROTOCOL.md §3.1).
//
// Bitrix24 keeps one leaky bucket per portal: every request adds one, the
// level drains at the plan's rate, and a request arriving at a full bucket is
// refused with QUERY_LIMIT_EXCEEDED. The gateway keeps its own estimate and
// sends a request only when it fits with `safety_margin` requests to spare
// (our clock and the portal's never agree exactly). When a refusal still
// arrives (another app shares the bucket), the estimate becomes "full" and the
// drain slows down; a run of successes brings it back.
//
// RequestBucket is the interface the executor uses, so a bucket shared by
// several replicas (one row or key per portal in a shared store) can stand
// behind it without the executor changing. LeakyBucket is the in-process one.
// Both are value-like: no locks, no clock — every call takes `now`; the
// executor serialises calls under its own lock.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"

namespace b24::exec {

struct PortalLimits {
  double drain_per_second = 2;
  int burst = 50;
};

// Tuning of the adaptive drain; each named once, with why.
// A refusal means someone else is using the portal's bucket too: slow down...
inline constexpr double kSlowDownFactor = 0.8;
// ...but never below this fraction of the plan's rate (we still own a share).
inline constexpr double kMinDrainFraction = 0.25;
// After this many successes in a row, try a little faster again...
inline constexpr int kRecoveryStreak = 20;
// ...by this factor, up to the plan's rate.
inline constexpr double kSpeedUpFactor = 1.1;
// Requests kept free in the bucket for clock jitter between us and the portal.
inline constexpr int kDefaultSafetyMargin = 2;

class RequestBucket {
 public:
  virtual ~RequestBucket() = default;
  // How long until one more request fits, with `ahead` requests already
  // promised to others; zero when it fits now.
  virtual absl::Duration WaitFor(absl::Time now, int ahead) = 0;
  // Takes a place for a request that is sent now. Call only when WaitFor is zero.
  virtual void Take(absl::Time now) = 0;
  // Gives back a place taken for a request that was not sent after all.
  virtual void Refund(absl::Time now) = 0;
  // The portal refused a request with QUERY_LIMIT_EXCEEDED.
  virtual void OnRateLimited(absl::Time now) = 0;
  // A request succeeded.
  virtual void OnSuccess() = 0;
  // The portal's plan changed (e.g. detected from app.info); an adaptive
  // slow-down in force is kept in proportion.
  virtual void SetLimits(PortalLimits limits) = 0;
  virtual PortalLimits limits() const = 0;
  // The drain in force (the plan's, or slower after refusals).
  virtual double drain() const = 0;
  // The estimated number of requests in the bucket at `now` (metrics).
  virtual double Level(absl::Time now) = 0;
};

class LeakyBucket final : public RequestBucket {
 public:
  explicit LeakyBucket(PortalLimits limits, int safety_margin = kDefaultSafetyMargin);

  absl::Duration WaitFor(absl::Time now, int ahead) override;
  void Take(absl::Time now) override;
  void Refund(absl::Time now) override;
  void OnRateLimited(absl::Time now) override;
  void OnSuccess() override;
  void SetLimits(PortalLimits limits) override;
  PortalLimits limits() const override { return limits_; }
  double drain() const override { return drain_; }

  // The estimated level at `now` (for tests and metrics).
  double Level(absl::Time now) override;

 private:
  void Drain(absl::Time now);
  // Requests the bucket may hold by our estimate: burst minus the margin.
  double Capacity() const;

  PortalLimits limits_;
  int safety_margin_;
  double drain_;
  double level_ = 0;
  absl::Time level_at_ = absl::InfinitePast();
  int success_streak_ = 0;
};

}  // namespace b24::exec
