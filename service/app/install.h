// Installer: turns what Bitrix24 sent to an app's install handler into a
// stored portal.
//
// Accepts the UI installation POST (AUTH_ID, REFRESH_ID, member_id, DOMAIN,
// ...) or the ONAPPINSTALL event (auth[access_token], auth[member_id], ...),
// PROTOCOL.md §7. The portal host must pass the HostPolicy; the access token
// is verified with `app.info` on the portal before anything is stored; then
// the row is inserted or replaced (a reinstall replaces the old tokens and
// clears the reinstall mark).
// Errors: INVALID_ARGUMENT naming the missing or bad field; the portal's own
// error when app.info fails. Thread-safety: Install() from any thread.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <functional>
#include <map>
#include <string>

#include "service/auth/oauth.h"
#include "service/rest/client.h"

// Installing is a use case above auth: it verifies the payload with the rest
// client and stores the portal through the OAuth manager's worker.
namespace b24::app {

struct InstallInput {
  enum class Kind { kUi, kOnAppInstall } kind = Kind::kUi;
  std::map<std::string, std::string> fields;
  std::string client_id, client_secret;
};

struct InstallOutput {
  std::string member_id, domain, finish_html;
};

// Parses the payload into a record (no I/O). `now` dates the expiry.
absl::StatusOr<storage::PortalRecord> ParseInstall(const InstallInput& input, absl::Time now);

class Installer {
 public:
  Installer(auth::OAuthManager& oauth, rest::RestClient& rest, Clock& clock)
      : oauth_(oauth), rest_(rest), clock_(clock) {}
  void Install(const InstallInput& input, absl::Time deadline, std::function<void(absl::StatusOr<InstallOutput>)> done);

 private:
  auth::OAuthManager& oauth_;
  rest::RestClient& rest_;
  Clock& clock_;
};

}  // namespace b24::app
