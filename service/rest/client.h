// RestClient: calls Bitrix24 REST methods through the shared executor.
//
// Builds the HTTP request (POST, JSON body, bearer token for OAuth portals),
// refuses hosts outside the HostPolicy before anything is sent, follows a
// portal rename (HTTP 302) by re-sending the same POST to the new host (if
// allowed), decodes the envelope and, on `expired_token`, asks the portal's
// TokenProvider for a fresh token and repeats the call once.
//
// Callbacks run once, on a transport or clock thread, and must not block.
// Statuses: see envelope.h for portal errors; INVALID_ARGUMENT (reason
// HOST_NOT_ALLOWED / INVALID_METHOD) for requests refused locally;
// DEADLINE_EXCEEDED when the caller's deadline passes first.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <functional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/exec/executor.h"
#include "service/http/url.h"
#include "service/rest/envelope.h"
#include "service/rest/portal.h"

namespace b24::rest {

struct RestClientOptions {
  absl::Duration request_timeout = absl::Seconds(70);
  int max_redirects = 3;
  // Ask app.info once per OAuth portal for its plan (LICENSE_FAMILY "ent" =
  // enterprise: 5 requests/s, burst 250) and tell the executor.
  bool detect_plan = true;
  // Bounds on every JSON body read from a portal.
  JsonLimits json;
};

class RestClient {
 public:
  using CallDone = std::function<void(absl::StatusOr<Envelope>)>;
  // Told when a portal answered 302 and moved to `new_base_url` (to update storage).
  using RenameHook = std::function<void(const Portal& portal, const std::string& new_base_url)>;

  RestClient(exec::Executor& executor, const http::HostPolicy& policy, Clock& clock, Logger& log,
             RestClientOptions options);

  void SetRenameHook(RenameHook hook) { on_rename_ = std::move(hook); }

  // Calls `method` with `params` (a JSON object). `gated_methods` defaults to {method}.
  void Call(const Portal& portal, const std::string& method, const Json& params, absl::Time deadline, CallDone done);

  // Like Call, with an explicit operating-budget feed: `judge_operating`
  // extracts samples from the envelope (batch uses it for per-command times).
  struct Options {
    std::vector<std::string> gated_methods;
    std::function<std::vector<exec::OperatingSample>(const Envelope&)> operating;
    bool idempotent = true;
    // Checks a decoded envelope (e.g. that a batch answer is a batch
    // envelope); a failure is treated like an unreadable body: retried for
    // reads, reported with may_have_executed for writes.
    std::function<absl::Status(const Envelope&)> validate;
    // Checked just before each attempt is sent: true drops the request
    // (CANCELLED) instead of spending the portal's budget for nobody.
    std::function<bool()> cancelled;
  };
  void CallWith(const Portal& portal, const std::string& method, const Json& params, absl::Time deadline,
                Options options, CallDone done);

  http::HostPolicy const& policy() const { return policy_; }

 private:
  void Attempt(const Portal& portal, const std::string& method, std::shared_ptr<const std::string> body,
               absl::Time deadline, Options options, std::string token, bool refreshed, CallDone done);

  void DetectPlan(const Portal& portal);

  exec::Executor& executor_;
  const http::HostPolicy& policy_;
  absl::Mutex plans_mu_;
  std::set<std::string> plans_asked_ ABSL_GUARDED_BY(plans_mu_);  // portal hosts whose plan was asked for
  Clock& clock_;
  Logger& log_;
  RestClientOptions options_;
  RenameHook on_rename_;
};

}  // namespace b24::rest
