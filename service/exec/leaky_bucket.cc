#include "service/exec/leaky_bucket.h"

#include <algorithm>

namespace b24::exec {

LeakyBucket::LeakyBucket(PortalLimits limits, int safety_margin)
    : limits_(limits), safety_margin_(safety_margin), drain_(limits.drain_per_second) {}

double LeakyBucket::Capacity() const { return std::max(1, limits_.burst - safety_margin_); }

void LeakyBucket::Drain(absl::Time now) {
  if (level_at_ != absl::InfinitePast() && now > level_at_) {
    level_ = std::max(0.0, level_ - drain_ * absl::ToDoubleSeconds(now - level_at_));
  }
  level_at_ = std::max(level_at_, now);
}

double LeakyBucket::Level(absl::Time now) {
  Drain(now);
  return level_;
}

absl::Duration LeakyBucket::WaitFor(absl::Time now, int ahead) {
  Drain(now);
  double excess = level_ + ahead + 1 - Capacity();
  if (excess <= 1e-9) return absl::ZeroDuration();
  return absl::Seconds(excess / drain_);
}

void LeakyBucket::Take(absl::Time now) {
  Drain(now);
  level_ += 1;
}

void LeakyBucket::Refund(absl::Time now) {
  Drain(now);
  level_ = std::max(0.0, level_ - 1);
}

void LeakyBucket::OnRateLimited(absl::Time now) {
  success_streak_ = 0;
  // The bucket is fuller than we thought: treat it as full.
  Drain(now);
  level_ = std::max(level_, Capacity());
  drain_ = std::max(limits_.drain_per_second * kMinDrainFraction, drain_ * kSlowDownFactor);
}

void LeakyBucket::OnSuccess() {
  if (++success_streak_ >= kRecoveryStreak && drain_ < limits_.drain_per_second) {
    drain_ = std::min(limits_.drain_per_second, drain_ * kSpeedUpFactor);
    success_streak_ = 0;
  }
}

void LeakyBucket::SetLimits(PortalLimits limits) {
  drain_ = drain_ / limits_.drain_per_second * limits.drain_per_second;
  limits_ = limits;
}

}  // namespace b24::exec
