// Stats: the counters, the list of rejected requests (last kMaxRejected), and
// their JSON form served at GET /emulator/stats.
#include "tests/testing/emulator/emulator_impl.h"

#include <string>
#include <utility>

#include "tests/testing/emulator/emulator.h"

namespace b24::testing {

using emulator_internal::Dump;
using emulator_internal::UnixSeconds;
using Json = php::Json;

namespace {

constexpr size_t kMaxRejected = 10000;

}  // namespace

void EmulatorImpl::RejectLocked(int portal, const std::string& method, int status, const std::string& error,
                                bool in_batch) {
  rejected_.push_back({portal, method, status, error, in_batch, clock_.Now()});
  if (rejected_.size() > kMaxRejected) rejected_.pop_front();
}

EmulatorStats EmulatorImpl::StatsLocked() const {
  EmulatorStats stats = stats_;
  stats.rejected.assign(rejected_.begin(), rejected_.end());
  return stats;
}

EmulatorStats EmulatorImpl::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return StatsLocked();
}

void EmulatorImpl::ResetStats() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, s] : stats_.portals) s = PortalStats();
  stats_.oauth_requests = stats_.oauth_refresh_requests = stats_.oauth_code_requests = stats_.oauth_invalid_grant = 0;
  rejected_.clear();
}

std::string EmulatorStats::ToJson() const {
  Json j = Json::object();
  Json ps = Json::object();
  for (const auto& [id, s] : portals) {
    Json by_method = Json::object(), executed = Json::object();
    for (const auto& [m, n] : s.requests_by_method) by_method[m] = n;
    for (const auto& [m, n] : s.executed_by_method) executed[m] = n;
    ps[std::to_string(id)] = {{"http_requests", s.http_requests},
                              {"requests_by_method", by_method},
                              {"executed_by_method", executed},
                              {"query_limit_exceeded", s.query_limit_exceeded},
                              {"operation_time_limit", s.operation_time_limit},
                              {"redirects", s.redirects},
                              {"faults", s.faults}};
  }
  j["portals"] = std::move(ps);
  j["oauth"] = {{"requests", oauth_requests},
                {"refresh_requests", oauth_refresh_requests},
                {"code_requests", oauth_code_requests},
                {"invalid_grant", oauth_invalid_grant}};
  Json rej = Json::array();
  for (const RejectedRequest& r : rejected) {
    rej.push_back({{"portal", r.portal},
                   {"method", r.method},
                   {"http_status", r.http_status},
                   {"error", r.error},
                   {"in_batch", r.in_batch},
                   {"at", UnixSeconds(r.at)}});
  }
  j["rejected"] = std::move(rej);
  return Dump(j);
}

}  // namespace b24::testing
