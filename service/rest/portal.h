// Portal: a resolved Bitrix24 portal — where its REST endpoint is and how a
// request is authenticated — as the rest client needs it.
//
// Webhook portals carry their secret in `base_url` (".../rest/<user>/<code>/").
// OAuth portals have `base_url` = client_endpoint (".../rest/") and a
// TokenProvider (implemented in service/auth) that hands out access tokens
// and refreshes them, once for all concurrent callers.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace b24::rest {

class TokenProvider {
 public:
  using TokenCallback = std::function<void(absl::StatusOr<std::string>)>;
  virtual ~TokenProvider() = default;
  // The current access token, refreshed first when it is about to expire.
  virtual void Token(TokenCallback done) = 0;
  // The portal rejected `stale` as expired: refresh unless a newer token
  // already exists, then return the token to use. FAILED_PRECONDITION when the
  // app must be reinstalled.
  virtual void Refresh(const std::string& stale, TokenCallback done) = 0;
};

struct Portal {
  std::string id;                         // member_id, webhook name or host: for messages and logs (no secrets)
  std::string base_url;                   // ends with '/'; method names are appended
  std::string host;                       // host[:port]; the executor's key for limits
  std::shared_ptr<TokenProvider> tokens;  // null for webhooks
  // Who the requests are made for (the gRPC peer): the executor serves the
  // callers of one portal fairly. Not part of the portal's identity.
  std::string caller;
};

// True when `method` only reads (…get, …list, …fields, profile, app.info, …):
// such calls may be retried after an ambiguous failure. Anything else is
// treated as a write.
bool IsReadOnlyMethod(const std::string& method);

// Letters, digits, '.', '_' and at most 200 characters.
bool IsValidMethodName(const std::string& method);

}  // namespace b24::rest
