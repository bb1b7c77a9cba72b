// The operating-time budget of one portal, per REST method (PROTOCOL.md §3.2).
//
// Bitrix24 charges the server time a method spends to that method's budget
// (480 s per 10 minutes by default) and refuses calls with
// OPERATION_TIME_LIMIT once it is spent, until its oldest charged minute
// expires (`operating_reset_at`). Every response (and every command of a
// batch) reports `operating` and `operating_reset_at`; OperatingBudget keeps
// the latest figures per method with the average cost of one request, and
// blocks a method before the portal would, counting the cost of the requests
// of that method still in flight. After a block, one request (the probe)
// goes out alone until a fresh sample arrives.
//
// A value type: no locks, no clock — every call takes `now`.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"

namespace b24::exec {

// Operating time the portal reported for one method.
struct OperatingSample {
  std::string method;
  double operating = 0;  // seconds used in the current 10-minute window
  int64_t reset_at = 0;  // unix seconds; 0 = unknown
  double cost = 0;       // server time this request spent in the method (`processing`)
};

// When nothing says when a blocked method resets: the portal's buckets are a
// minute wide, so a minute is the longest a block can be wrong by.
inline constexpr absl::Duration kFallbackBlock = absl::Seconds(60);
// Wait this long past `operating_reset_at`: the portal's clock and ours differ.
inline constexpr absl::Duration kResetSlack = absl::Seconds(1);
// Weight of the newest cost in the running average: a few requests settle it,
// one odd request does not.
inline constexpr double kCostWeight = 0.2;

class OperatingBudget {
 public:
  explicit OperatingBudget(double limit_seconds = 480) : limit_(limit_seconds) {}

  // Earliest time a request of `method` may be sent (InfinitePast when now).
  absl::Time ReadyAt(const std::string& method) const;
  // A probe of `method` is in flight: the others wait for its answer.
  bool ProbeBusy(const std::string& method) const;

  void OnSent(const std::string& method);
  void OnDone(const std::string& method);
  // A response's figures for one method; may block it.
  void Record(const OperatingSample& sample, absl::Time now);
  // The portal refused a request of `method` with OPERATION_TIME_LIMIT.
  void OnOperatingLimit(const std::string& method, absl::Time now);

  double limit() const { return limit_; }

 private:
  struct Method {
    double operating = 0;
    int64_t reset_at = 0;
    double avg_cost = 0;
    int in_flight = 0;
    absl::Time blocked_until = absl::InfinitePast();
    bool probing = false;  // after a block: one request until a fresh sample arrives
  };
  const Method* Find(const std::string& method) const;

  double limit_;
  std::map<std::string, Method> methods_;
};

}  // namespace b24::exec
