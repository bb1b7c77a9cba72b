#include "tests/testing/emulator/limits.h"

#include <algorithm>
#include <cmath>

namespace b24::testing {

bool LeakyBucket::TryAcquire(absl::Time now, double burst, double drain_per_second) {
  if (last_ != absl::InfinitePast() && now > last_) {
    level_ = std::max(0.0, level_ - drain_per_second * absl::ToDoubleSeconds(now - last_));
  }
  if (now > last_) last_ = now;
  if (level_ + 1 > burst) return false;
  level_ += 1;
  return true;
}

void OperatingBudget::Prune(absl::Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = it->second.expires <= now ? buckets_.erase(it) : std::next(it);
  }
}

absl::Duration OperatingBudget::Used(absl::Time now) {
  Prune(now);
  absl::Duration sum;
  for (const auto& [index, bucket] : buckets_) sum += bucket.spent;
  return sum;
}

absl::Time OperatingBudget::ResetAt(absl::Time now, absl::Time fallback) {
  Prune(now);
  absl::Time oldest = absl::InfiniteFuture();
  for (const auto& [index, bucket] : buckets_) {
    if (bucket.spent > absl::ZeroDuration()) oldest = std::min(oldest, bucket.expires);
  }
  return oldest == absl::InfiniteFuture() ? fallback : oldest;
}

void OperatingBudget::Charge(absl::Time hit_start, absl::Duration spent, absl::Duration minimal_charge,
                             absl::Duration bucket_size, int bucket_count) {
  if (spent <= minimal_charge) return;
  auto index = static_cast<int64_t>(
      std::floor(absl::ToDoubleSeconds(hit_start - absl::UnixEpoch()) / absl::ToDoubleSeconds(bucket_size)));
  auto [it, inserted] = buckets_.try_emplace(index);
  if (inserted) it->second.expires = hit_start + bucket_size * bucket_count;
  it->second.spent += spent;
}

}  // namespace b24::testing
