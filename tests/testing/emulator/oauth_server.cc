// The OAuth server (§6): /oauth/token/ with the refresh_token and
// authorization_code grants, and the test API that installs and uninstalls
// apps. Every installation starts a token chain: a refresh spends the refresh
// token and kills the access token issued with it (rotation).
#include "tests/testing/emulator/emulator_impl.h"

#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tests/testing/http_server.h"

namespace b24::testing {

using emulator_internal::Answer;
using emulator_internal::ErrorAnswer;
using emulator_internal::HexToken;
using emulator_internal::RequestParams;
using emulator_internal::StringParam;

void EmulatorImpl::HandleOAuth(const HttpServerRequest& req, HttpServerResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time now = clock_.Now();
  ++stats_.oauth_requests;
  resp->delay = options_.oauth_latency;
  if (req.path != "/oauth/token/" && req.path != "/oauth/token") {
    ErrorAnswer(resp, 404, "not_found", "Unknown path");
    return;
  }
  Json params;
  try {
    params = RequestParams(req);
  } catch (const std::exception&) {
    params = Json::object();
  }
  std::string grant = StringParam(params, "grant_type");
  if (grant == "refresh_token") ++stats_.oauth_refresh_requests;
  if (grant == "authorization_code") ++stats_.oauth_code_requests;
  bool drop_after = false;
  if (ApplyFaultLocked(Emulator::kOAuthServer, grant, resp, &drop_after)) return;
  TokenAnswer(params, grant, now, resp);
  if (drop_after) {
    resp->drop_connection = true;
    RejectLocked(Emulator::kOAuthServer, grant, 0, "DROPPED_AFTER_EXECUTE", false);
  }
}

void EmulatorImpl::TokenAnswer(const Json& params, const std::string& grant, absl::Time now, HttpServerResponse* resp) {
  auto fail = [&](int status, const std::string& error, const std::string& description) {
    if (error == "invalid_grant") ++stats_.oauth_invalid_grant;
    ErrorAnswer(resp, status, error, description);
    RejectLocked(Emulator::kOAuthServer, grant, status, error, false);
  };
  auto app = apps_.find(StringParam(params, "client_id"));
  if (app == apps_.end()) return fail(200, "wrong_client", "Wrong client");  // Sic: 200.
  if (StringParam(params, "client_secret") != app->second.client_secret) {
    return fail(400, "invalid_client", "Invalid client credentials");
  }
  int portal = -1;
  int64_t user_id = 0;
  if (grant == "refresh_token") {
    std::string token = StringParam(params, "refresh_token");
    if (token.empty()) return fail(400, "invalid_request", "No \"refresh_token\" parameter found");
    auto it = refresh_tokens_.find(token);
    if (it == refresh_tokens_.end() || it->second.client_id != app->first || it->second.expires <= now) {
      return fail(400, "invalid_grant", "Invalid refresh token");
    }
    // Rotation: the used refresh token and the access token issued with it die.
    portal = it->second.portal;
    user_id = it->second.user_id;
    auto access = access_tokens_.find(it->second.access_token);
    if (access != access_tokens_.end()) access->second.revoked = true;
    refresh_tokens_.erase(it);
  } else if (grant == "authorization_code") {
    std::string code = StringParam(params, "code");
    if (code.empty()) return fail(400, "invalid_request", "No \"code\" parameter found");
    auto it = auth_codes_.find(code);
    if (it == auth_codes_.end() || it->second.client_id != app->first || it->second.expires <= now) {
      return fail(400, "invalid_grant", "Invalid authorization code");
    }
    portal = it->second.portal;
    user_id = it->second.user_id;
    auth_codes_.erase(it);
  } else {
    return fail(400, "unsupported_grant_type", "Unsupported grant type");
  }
  auto install = installs_.find({portal, app->first});
  if (install == installs_.end() || !install->second.installed) {
    return fail(400, "invalid_grant", "Application not installed");
  }
  Installation inst = IssueTokensLocked(portal, app->second, user_id, now);
  Answer(resp, 200,
         Json{{"access_token", inst.access_token},
              {"expires", absl::ToUnixSeconds(inst.expires)},
              {"expires_in", absl::ToInt64Seconds(inst.expires - now)},
              {"scope", inst.scope},
              {"domain", absl::StrCat("127.0.0.1:", oauth_server_->port())},
              {"server_endpoint", inst.server_endpoint},
              {"status", inst.status},
              {"client_endpoint", inst.client_endpoint},
              {"member_id", inst.member_id},
              {"user_id", inst.user_id},
              {"refresh_token", inst.refresh_token}});
}

Installation EmulatorImpl::IssueTokensLocked(int portal, const AppOptions& app, int64_t user_id, absl::Time now) {
  const Portal& p = *portals_[portal];
  PortalInfo info = InfoLocked(p);
  InstallRecord& record = installs_[{portal, app.client_id}];
  Installation inst;
  inst.access_token = HexToken(rng_, 64);
  inst.refresh_token = HexToken(rng_, 64);
  inst.expires = now + access_token_lifetime_;
  inst.member_id = p.member_id;
  inst.application_token = record.application_token;
  inst.domain = info.domain;
  inst.client_endpoint = info.client_endpoint;
  inst.server_endpoint =
      absl::StrCat("http://127.0.0.1:", oauth_server_ == nullptr ? 0 : oauth_server_->port(), "/rest/");
  inst.scope = app.scope;
  inst.status = app.status;
  inst.user_id = user_id;
  access_tokens_[inst.access_token] = {portal, app.client_id, user_id, inst.expires};
  refresh_tokens_[inst.refresh_token] = {portal, app.client_id, user_id, now + options_.refresh_token_lifetime,
                                         inst.access_token};
  return inst;
}

void EmulatorImpl::RegisterApp(AppOptions app) {
  std::lock_guard<std::mutex> lock(mu_);
  apps_[app.client_id] = std::move(app);
}

absl::Status EmulatorImpl::EnsureInstalledLocked(int portal, const std::string& client_id) {
  if (FindLocked(portal) == nullptr || apps_.count(client_id) == 0) {
    return absl::NotFoundError("unknown portal or client_id");
  }
  InstallRecord& record = installs_[{portal, client_id}];
  if (record.application_token.empty() || !record.installed) {
    record.application_token = HexToken(rng_, 32);
    record.installed = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<Installation> EmulatorImpl::Install(int portal, const std::string& client_id, int64_t user_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = EnsureInstalledLocked(portal, client_id);
  if (!s.ok()) return s;
  return IssueTokensLocked(portal, apps_.at(client_id), user_id, clock_.Now());
}

absl::StatusOr<std::string> EmulatorImpl::IssueAuthCode(int portal, const std::string& client_id, int64_t user_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = EnsureInstalledLocked(portal, client_id);
  if (!s.ok()) return s;
  std::string code = HexToken(rng_, 32);
  auth_codes_[code] = {portal, client_id, user_id, clock_.Now() + options_.auth_code_lifetime};
  return code;
}

void EmulatorImpl::Uninstall(int portal, const std::string& client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto install = installs_.find({portal, client_id});
  if (install != installs_.end()) install->second.installed = false;
  for (auto& [token, t] : access_tokens_) {
    if (t.portal == portal && t.client_id == client_id) t.revoked = true;
  }
  for (auto it = refresh_tokens_.begin(); it != refresh_tokens_.end();) {
    bool dead = it->second.portal == portal && it->second.client_id == client_id;
    it = dead ? refresh_tokens_.erase(it) : std::next(it);
  }
}

void EmulatorImpl::ExpireAccessTokens(int portal) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time now = clock_.Now();
  for (auto& [token, t] : access_tokens_) {
    if (t.portal == portal && t.expires > now) t.expires = now;
  }
}

void EmulatorImpl::SetAccessTokenLifetime(absl::Duration lifetime) {
  std::lock_guard<std::mutex> lock(mu_);
  access_token_lifetime_ = lifetime;
}

}  // namespace b24::testing
