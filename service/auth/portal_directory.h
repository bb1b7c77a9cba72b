// PortalDirectory: turns a caller's portal reference into a rest::Portal.
//
//   webhook URL  → parsed and checked against the HostPolicy; must look like
//                  https://HOST/rest/<user_id>/<code>/
//   name         → a webhook named in the configuration (`webhooks.<name>`)
//   member_id    → an installed OAuth portal from the token store
//
// Errors: INVALID_ARGUMENT (malformed URL, host not allowed — nothing is sent),
// NOT_FOUND (unknown name or member_id). Messages never contain webhook codes.
// Thread-safety: Resolve() from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/http/url.h"
#include "service/rest/portal.h"

namespace b24::auth {

// Looks up installed OAuth portals; implemented with the token store (issue 3).
class OAuthPortals {
 public:
  virtual ~OAuthPortals() = default;
  // NOT_FOUND when no app is installed on `member_id`.
  virtual absl::StatusOr<rest::Portal> Find(const std::string& member_id) = 0;
};

class PortalDirectory {
 public:
  PortalDirectory(const http::HostPolicy& policy, std::map<std::string, std::string> named_webhooks,
                  OAuthPortals* oauth);

  // Validates the configured webhooks (startup check).
  absl::Status Validate() const;

  absl::StatusOr<rest::Portal> ByWebhookUrl(const std::string& url) const;
  absl::StatusOr<rest::Portal> ByName(const std::string& name) const;
  absl::StatusOr<rest::Portal> ByMemberId(const std::string& member_id) const;

  const std::map<std::string, std::string>& named_webhooks() const { return named_; }

 private:
  absl::StatusOr<rest::Portal> Webhook(const std::string& url, const std::string& id) const;
  const http::HostPolicy& policy_;
  std::map<std::string, std::string> named_;
  OAuthPortals* oauth_;
};

}  // namespace b24::auth
