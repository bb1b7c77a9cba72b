#include "service/app/install.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/status.h"

namespace b24::app {
namespace {

constexpr char kFinishHtml[] =
    "<script src=\"//api.bitrix24.com/api/v1/\"></script>\n"
    "<script>BX24.init(function(){BX24.installFinish();});</script>\n";

absl::Status Missing(const std::string& field) {
  return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_INSTALL",
                      absl::StrCat("the installation payload has no '", field, "'"));
}

// Hands out one fixed token (verification before anything is stored).
class FixedToken final : public rest::TokenProvider {
 public:
  explicit FixedToken(std::string token) : token_(std::move(token)) {}
  void Token(TokenCallback done) override { done(token_); }
  void Refresh(const std::string&, TokenCallback done) override {
    done(GatewayError(absl::StatusCode::kUnauthenticated, "INVALID_INSTALL",
                      "the access token of the installation payload is expired or invalid"));
  }

 private:
  std::string token_;
};

}  // namespace

absl::StatusOr<storage::PortalRecord> ParseInstall(const InstallInput& in, absl::Time now) {
  if (in.client_id.empty() || in.client_secret.empty()) {
    return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_INSTALL",
                        "app.client_id and app.client_secret are required to install a portal");
  }
  auto get = [&](const std::string& k) -> std::string {
    auto it = in.fields.find(k);
    return it == in.fields.end() ? "" : it->second;
  };
  // The same facts under the names of each payload (PROTOCOL.md §7.1, §7.3).
  struct Names {
    const char *access, *refresh, *member, *domain, *server, *app_token, *expires_in;
  };
  static constexpr Names kUi = {"AUTH_ID",         "REFRESH_ID",        "member_id",   "DOMAIN",
                                "SERVER_ENDPOINT", "APPLICATION_TOKEN", "AUTH_EXPIRES"};
  static constexpr Names kEvent = {"auth[access_token]", "auth[refresh_token]",   "auth[member_id]",
                                   "auth[domain]",       "auth[server_endpoint]", "auth[application_token]",
                                   "auth[expires_in]"};
  bool event = in.kind == InstallInput::Kind::kOnAppInstall;
  const Names& n = event ? kEvent : kUi;
  if (event && absl::AsciiStrToUpper(get("event")) != "ONAPPINSTALL") {
    return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_INSTALL",
                        absl::StrCat("expected event ONAPPINSTALL, got '", get("event"), "'"));
  }
  for (const char* f : {n.access, n.refresh, n.member, n.domain}) {
    if (get(f).empty()) return Missing(f);
  }
  storage::PortalRecord r;
  r.client_id = in.client_id;
  r.client_secret = in.client_secret;
  r.access_token = get(n.access);
  r.refresh_token = get(n.refresh);
  r.member_id = get(n.member);
  r.domain = get(n.domain);
  r.server_endpoint = get(n.server);
  r.application_token = get(n.app_token);
  int64_t expires_in = 3600, expires = 0;
  (void)absl::SimpleAtoi(get(n.expires_in), &expires_in);
  if (event) {
    r.client_endpoint = get("auth[client_endpoint]");
    (void)absl::SimpleAtoi(get("auth[expires]"), &expires);
  } else {
    r.client_endpoint = absl::StrCat(get("PROTOCOL") == "0" ? "http" : "https", "://", r.domain, "/rest/");
  }
  if (r.client_endpoint.empty()) r.client_endpoint = absl::StrCat("https://", r.domain, "/rest/");
  for (char c : r.member_id) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-') {
      return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_INSTALL", "member_id has invalid characters");
    }
  }
  r.expires_in = expires_in;
  r.expires_at = expires > 0 ? expires : absl::ToUnixSeconds(now) + expires_in;
  return r;
}

void Installer::Install(const InstallInput& input, absl::Time deadline,
                        std::function<void(absl::StatusOr<InstallOutput>)> done) {
  absl::StatusOr<storage::PortalRecord> record = ParseInstall(input, clock_.Now());
  if (!record.ok()) return done(record.status());
  absl::StatusOr<http::Url> url = http::ParseUrl(record->client_endpoint);
  if (!url.ok())
    return done(GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_INSTALL",
                             absl::StrCat("client_endpoint: ", url.status().message())));
  if (absl::Status s = rest_.policy().Check(*url); !s.ok()) return done(s);
  rest::Portal probe;
  probe.id = record->member_id;
  probe.base_url = url->Origin() + "/rest/";
  probe.host = url->HostPort();
  probe.tokens = std::make_shared<FixedToken>(record->access_token);
  bool ui = input.kind == InstallInput::Kind::kUi;
  auto rec = std::make_shared<storage::PortalRecord>(*std::move(record));
  rest_.Call(probe, "app.info", rest::Json::object(), deadline,
             [this, rec, ui, done = std::move(done)](absl::StatusOr<rest::Envelope> env) {
               if (!env.ok()) return done(env.status());
               // Database work runs on the store's worker, not the transport thread.
               oauth_.worker().Post([this, rec, ui, done = std::move(done)] {
                 // A payload is verified only against the portal it names: it
                 // must not take over another portal's member_id.
                 absl::StatusOr<storage::PortalRecord> existing = oauth_.store().Get(rec->member_id);
                 if (existing.ok() && existing->domain != rec->domain) {
                   return done(GatewayError(
                       absl::StatusCode::kPermissionDenied, "MEMBER_ID_TAKEN",
                       absl::StrCat("member_id ", rec->member_id, " is installed on ", existing->domain, ", not ",
                                    rec->domain, "; remove it first (RemovePortal) if the portal really moved")));
                 }
                 if (absl::Status s = oauth_.store().Upsert(*rec); !s.ok()) return done(s);
                 oauth_.Forget(rec->member_id);
                 done(InstallOutput{rec->member_id, rec->domain, ui ? kFinishHtml : ""});
               });
             });
}

}  // namespace b24::app
