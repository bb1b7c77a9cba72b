// The two Bitrix24 cloud limits as the emulator models them (PROTOCOL.md §3.4).
//
// LeakyBucket: the per-portal request rate. Every request adds 1 to a level that
// drains by `drain_per_second`; a request that would lift the level above
// `burst` is refused (503 QUERY_LIMIT_EXCEEDED) and does not count. With 50/2 the
// 51st immediate request is refused and after one second two more pass.
//
// OperatingBudget: the per (portal, app-or-webhook, method) "operating" time.
// Buckets of `bucket_size` indexed by floor(start / bucket_size); a hit's time is
// charged only above `minimal_charge`; a bucket expires `bucket_size *
// bucket_count` after the first charged hit in it.
//
// Neither class is thread-safe; the emulator holds its mutex around them.
#pragma once

#include <cstdint>
#include <map>

#include "absl/time/time.h"

namespace b24::testing {

class LeakyBucket {
 public:
  // True if a request arriving at `now` passes (and is counted).
  bool TryAcquire(absl::Time now, double burst, double drain_per_second);
  void Reset() { level_ = 0; }

 private:
  double level_ = 0;
  absl::Time last_ = absl::InfinitePast();
};

class OperatingBudget {
 public:
  // Seconds charged in buckets that have not expired at `now`.
  absl::Duration Used(absl::Time now);
  // Expiry of the oldest live bucket, or `fallback` when none holds time.
  absl::Time ResetAt(absl::Time now, absl::Time fallback);
  // Charges `spent` of a hit that started at `hit_start` if above the minimum.
  void Charge(absl::Time hit_start, absl::Duration spent, absl::Duration minimal_charge, absl::Duration bucket_size,
              int bucket_count);

 private:
  struct Bucket {
    absl::Duration spent;
    absl::Time expires;
  };
  void Prune(absl::Time now);
  std::map<int64_t, Bucket> buckets_;
};

}  // namespace b24::testing
