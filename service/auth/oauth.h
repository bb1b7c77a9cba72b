// OAuth portals: access tokens that just work, for any number of callers and
// replicas.
//
// OAuthManager implements OAuthPortals (member_id → rest::Portal) on a
// TokenStore and hands out one TokenProvider per portal. A provider
//   - refreshes ahead of expiry (refresh_ahead) and on `expired_token`;
//   - within the process runs one refresh per portal at a time; every caller
//     waiting meanwhile gets its result, success or failure (single flight);
//     a failure is remembered for failure_cooldown, during which callers fail
//     fast with it; a token the portal called expired is never handed out
//     again;
//   - across processes first re-reads the row (someone may have refreshed),
//     then claims a lease on the row; only the lease holder calls the OAuth
//     server, the others poll the row until the new pair appears; the holder
//     writes the new pair with a compare-and-swap on the old refresh token;
//   - on invalid_grant / invalid_client / wrong_client marks the row for
//     reinstallation (the row is kept) and answers FAILED_PRECONDITION.
// Store calls run on the manager's Worker thread (never on transport or timer
// threads); Find() reads the store on the calling thread only the first time a
// portal is used.
// Thread-safety: everything may be called from any thread.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/auth/portal_directory.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/common/worker.h"
#include "service/http/transport.h"
#include "service/http/url.h"
#include "storage/token_store.h"

namespace b24::auth {

// Bitrix24's OAuth server, used when neither the configuration nor a trusted
// server_endpoint names another.
inline constexpr char kDefaultTokenUrl[] = "https://oauth.bitrix.info/oauth/token/";

struct OAuthOptions {
  // oauth.server: when set, every refresh goes here, whatever server_endpoint
  // an install payload or a token answer named (egress proxies, regional or
  // sandbox servers). Empty: the payload's server_endpoint when it is one of
  // Bitrix24's OAuth hosts (or loopback when allowed), else kDefaultTokenUrl.
  std::string token_url;
  // After a failed refresh, callers of that portal fail at once with the same
  // status for this long instead of each trying (and each spending a request
  // on the portal with the dead token).
  absl::Duration failure_cooldown = absl::Seconds(5);
  absl::Duration refresh_ahead = absl::Minutes(5);
  absl::Duration lease = absl::Seconds(30);  // how long a refresh claim holds
  absl::Duration poll_interval = absl::Milliseconds(100);
  absl::Duration request_timeout = absl::Seconds(30);
  std::string owner;  // this process's lease id (host:pid:random)
};

class PortalTokens;

class OAuthManager final : public OAuthPortals {
 public:
  OAuthManager(storage::TokenStore& store, http::Transport& transport, const http::HostPolicy& policy, Clock& clock,
               Logger& log, OAuthOptions options);
  ~OAuthManager() override;

  absl::StatusOr<rest::Portal> Find(const std::string& member_id) override;

  // Drops the cached provider (after an install replaced the row).
  void Forget(const std::string& member_id);

  // Every stored portal, read on the worker (never on the caller's thread);
  // `done` runs on the worker.
  void ListPortals(std::function<void(absl::StatusOr<std::vector<storage::PortalRecord>>)> done);
  // Removes a stored portal and forgets its tokens, on the worker; `done`
  // gets false when no such portal was stored.
  void RemovePortal(const std::string& member_id, std::function<void(absl::StatusOr<bool>)> done);

  // Counters for tests and metrics.
  int64_t refresh_requests() const;
  // Refreshes that failed: the OAuth server unreachable, or it refused.
  int64_t refresh_failures() const;

  storage::TokenStore& store() { return store_; }
  // The thread that runs token-store work for refreshes and installs.
  Worker& worker() { return worker_; }
  const OAuthOptions& options() const { return options_; }
  // The token endpoint for a portal whose OAuth server REST URL is `server_endpoint`.
  std::string TokenUrl(const std::string& server_endpoint) const;

 private:
  friend class PortalTokens;
  storage::TokenStore& store_;
  http::Transport& transport_;
  const http::HostPolicy& policy_;
  Clock& clock_;
  Logger& log_;
  OAuthOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<PortalTokens>> portals_ ABSL_GUARDED_BY(mu_);
  int64_t refresh_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refresh_failures_ ABSL_GUARDED_BY(mu_) = 0;
  Worker worker_;  // last: destroyed (joined) first
};

// Parses an OAuth token endpoint answer into a TokenUpdate, or the error
// (FAILED_PRECONDITION with reason invalid_grant etc. when the app must be
// reinstalled; UNAVAILABLE for server trouble).
absl::StatusOr<storage::TokenUpdate> ParseTokenResponse(const http::HttpResponse& response, absl::Time now);

}  // namespace b24::auth
