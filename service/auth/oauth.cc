#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/auth/oauth.h"

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/status.h"
#include "service/rest/envelope.h"
#include "service/rest/query.h"

namespace b24::auth {
namespace {

using Json = nlohmann::ordered_json;

bool IsReinstallError(const std::string& code) {
  return code == "invalid_grant" || code == "invalid_client" || code == "wrong_client" || code == "NOT_INSTALLED" ||
         code == "ERROR_OAUTH";
}

absl::Status ReinstallError(const std::string& member_id, const std::string& code, const std::string& description) {
  return ErrorWithDetail(
      absl::StatusCode::kFailedPrecondition,
      absl::StrCat("portal ", member_id, " must be reinstalled: the OAuth server rejected its refresh token (", code,
                   description.empty() ? "" : ": " + description, ")"),
      {code.empty() ? "NEEDS_REINSTALL" : code,
       std::string(kDomainPortal),
       {{"member_id", member_id}, {"error_description", description}, {"needs_reinstall", "true"}}});
}

}  // namespace

absl::StatusOr<storage::TokenUpdate> ParseTokenResponse(const http::HttpResponse& response, absl::Time now) {
  rest::JsonParse parsed = rest::ParseUntrustedJson(response.body);
  Json& body = parsed.value;
  if (!parsed.ok() || !body.is_object()) {
    return ErrorWithDetail(
        absl::StatusCode::kUnavailable,
        absl::StrCat("OAuth server answered HTTP ", response.status, " without a JSON body"),
        {"OAUTH_BAD_RESPONSE", std::string(kDomainGateway), {{"http_status", absl::StrCat(response.status)}}});
  }
  if (body.contains("error")) {  // wrong_client comes with HTTP 200
    std::string code = body["error"].is_string() ? body["error"].get<std::string>().substr(0, 200) : "invalid_response";
    std::string description = rest::JsonString(body, "error_description");
    absl::StatusCode grpc_code = IsReinstallError(code)   ? absl::StatusCode::kFailedPrecondition
                                 : response.status >= 500 ? absl::StatusCode::kUnavailable
                                                          : absl::StatusCode::kFailedPrecondition;
    return ErrorWithDetail(grpc_code, absl::StrCat("OAuth server: ", code, ": ", description),
                           {code,
                            std::string(kDomainPortal),
                            {{"error_description", description}, {"http_status", absl::StrCat(response.status)}}});
  }
  if (response.status != 200 || rest::JsonString(body, "access_token").empty() ||
      rest::JsonString(body, "refresh_token").empty()) {
    return ErrorWithDetail(
        absl::StatusCode::kUnavailable, absl::StrCat("OAuth server answered HTTP ", response.status, " without tokens"),
        {"OAUTH_BAD_RESPONSE", std::string(kDomainGateway), {{"http_status", absl::StrCat(response.status)}}});
  }
  auto num = [&](const char* k, int64_t fallback) {
    if (!body.contains(k)) return fallback;
    std::optional<int64_t> n = rest::JsonInt(&body[k]);
    return n ? *n : fallback;
  };
  storage::TokenUpdate u;
  u.access_token = rest::JsonString(body, "access_token");
  u.refresh_token = rest::JsonString(body, "refresh_token");
  u.expires_in = num("expires_in", 3600);
  u.expires_at = num("expires", absl::ToUnixSeconds(now) + u.expires_in);
  u.server_endpoint = rest::JsonString(body, "server_endpoint");
  u.client_endpoint = rest::JsonString(body, "client_endpoint");
  return u;
}

class PortalTokens final : public rest::TokenProvider, public std::enable_shared_from_this<PortalTokens> {
 public:
  PortalTokens(OAuthManager& manager, storage::PortalRecord record)
      : m_(manager), member_id_(record.member_id), record_(std::move(record)) {}

  storage::PortalRecord record() {
    absl::MutexLock lock(&mu_);
    return record_;
  }

  void Token(TokenCallback done) override { Serve(nullptr, std::move(done)); }

  void Refresh(const std::string& stale, TokenCallback done) override { Serve(&stale, std::move(done)); }

 private:
  // What a caller of Token()/Refresh() gets: decided under mu_, delivered
  // without it (the callback may call back into this provider).
  void Serve(const std::string* stale, TokenCallback done) {
    enum { kToken, kFailure, kWait, kStartRefresh } action;
    std::string token;
    absl::Status failure;
    {
      absl::MutexLock lock(&mu_);
      if (stale && *stale == record_.access_token) dead_token_ = *stale;  // the portal said so
      if (!refreshing_ && Usable()) {
        action = kToken;  // current, or somebody refreshed meanwhile
        token = record_.access_token;
      } else if (!refreshing_ && m_.clock_.Now() < failed_until_) {
        action = kFailure;  // the last refresh failed moments ago: the same answer, at once
        failure = failure_;
      } else {
        waiters_.push_back(std::move(done));
        action = refreshing_ ? kWait : kStartRefresh;
        if (action == kStartRefresh) {
          refreshing_ = true;
          stale_ = record_.access_token;
          started_ = m_.clock_.Now();
        }
      }
    }
    switch (action) {
      case kToken:
        done(token);
        break;
      case kFailure:
        done(failure);
        break;
      case kWait:
        break;
      case kStartRefresh: {
        auto self = shared_from_this();
        m_.worker_.Post([self] { self->Step(); });
        break;
      }
    }
  }

  // The stored token may be sent.
  bool Usable() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !Expiring(record_) && record_.access_token != dead_token_; }

  bool Expiring(const storage::PortalRecord& r) {
    return r.expires_at > 0 && absl::FromUnixSeconds(r.expires_at) - m_.clock_.Now() < m_.options_.refresh_ahead;
  }

  void Complete(absl::Status status, std::optional<storage::PortalRecord> fresh = std::nullopt) {
    std::vector<TokenCallback> waiters;
    std::string token;
    {
      absl::MutexLock lock(&mu_);
      if (fresh) record_ = std::move(*fresh);
      refreshing_ = false;
      if (status.ok()) {
        failed_until_ = absl::InfinitePast();
      } else {
        failed_until_ = m_.clock_.Now() + m_.options_.failure_cooldown;
        failure_ = status;
      }
      waiters.swap(waiters_);
      token = record_.access_token;
    }
    for (auto& w : waiters) {
      if (status.ok())
        w(token);
      else
        w(status);
    }
  }

  // One round: re-read, adopt someone else's refresh, or claim and refresh.
  void Step() {
    std::string stale;
    absl::Time started;
    {
      absl::MutexLock lock(&mu_);
      stale = stale_;
      started = started_;
    }
    absl::StatusOr<storage::PortalRecord> row = m_.store_.Get(member_id_);
    if (!row.ok()) return Complete(row.status());
    if (row->needs_reinstall) return Complete(ReinstallError(member_id_, "", "marked for reinstallation"));
    if (row->access_token != stale && !Expiring(*row)) return Complete(absl::OkStatus(), *row);
    absl::Time now = m_.clock_.Now();
    absl::StatusOr<bool> claimed =
        m_.store_.TryLease(member_id_, row->cas_token, m_.options_.owner, absl::ToUnixSeconds(now + m_.options_.lease),
                           absl::ToUnixSeconds(now));
    if (!claimed.ok()) return Complete(claimed.status());
    if (!*claimed) {
      if (now - started > 2 * m_.options_.lease) {
        return Complete(GatewayError(
            absl::StatusCode::kUnavailable, "REFRESH_TIMEOUT",
            absl::StrCat("another process holds the token refresh of ", member_id_, " and has not finished it")));
      }
      auto self = shared_from_this();
      m_.clock_.RunAfter(m_.options_.poll_interval, [self] { self->m_.worker_.Post([self] { self->Step(); }); });
      return;
    }
    CallOAuthServer(*std::move(row));
  }

  void CallOAuthServer(storage::PortalRecord row) {
    std::string token_url = m_.TokenUrl(row.server_endpoint);
    absl::StatusOr<http::Url> url = http::ParseUrl(token_url);
    if (!url.ok()) return Complete(url.status());
    if (absl::Status s = m_.policy_.Check(*url); !s.ok()) return Complete(s);
    http::HttpRequest request;
    request.method = "POST";
    request.url = token_url;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    request.body = rest::BuildQuery(Json{{"grant_type", "refresh_token"},
                                         {"client_id", row.client_id},
                                         {"client_secret", row.client_secret},
                                         {"refresh_token", row.refresh_token}});
    request.timeout = m_.options_.request_timeout;
    request.idempotent = false;
    {
      absl::MutexLock lock(&m_.mu_);
      m_.refresh_requests_++;
    }
    m_.log_.Info("refreshing the access token of portal ", member_id_);
    m_.log_.Debug("-> POST ", RedactUrl(request.url), " ", RedactBody(request.body));
    auto self = shared_from_this();
    m_.transport_.Send(std::move(request), [self, row = std::move(row)](absl::StatusOr<http::HttpResponse> r) {
      self->m_.worker_.Post([self, row, r = std::move(r)]() mutable { self->OnOAuthAnswer(row, std::move(r)); });
    });
  }

  void OnOAuthAnswer(const storage::PortalRecord& row, absl::StatusOr<http::HttpResponse> response) {
    if (response.ok()) {
      m_.log_.Debug("<- ", response->status, " token refresh of ", member_id_, " ", RedactBody(response->body));
    } else {
      m_.log_.Debug("<- token refresh of ", member_id_, ": ", response.status().message());
    }
    absl::StatusOr<storage::TokenUpdate> update =
        response.ok() ? ParseTokenResponse(*response, m_.clock_.Now()) : absl::StatusOr<storage::TokenUpdate>();
    if (!response.ok() || !update.ok()) {
      absl::MutexLock lock(&m_.mu_);
      m_.refresh_failures_++;
    }
    if (!response.ok()) {
      return Complete(ErrorWithDetail(absl::StatusCode::kUnavailable,
                                      absl::StrCat("cannot reach the OAuth server: ", response.status().message()),
                                      {"OAUTH_UNREACHABLE", std::string(kDomainGateway), {}}));
    }
    if (!update.ok()) {
      auto detail = GetErrorDetail(update.status());
      std::string code = detail ? detail->reason : "";
      if (!IsReinstallError(code)) return Complete(update.status());
      // Another writer may have used the refresh token first: then its pair is in the row.
      absl::StatusOr<storage::PortalRecord> now_row = m_.store_.Get(member_id_);
      if (now_row.ok() && now_row->cas_token != row.cas_token) return Complete(absl::OkStatus(), *now_row);
      if (absl::Status s = m_.store_.MarkNeedsReinstall(member_id_, row.cas_token); !s.ok()) {
        m_.log_.Warning("cannot mark portal ", member_id_, " for reinstallation: ", s.message());
      }
      m_.log_.Warning("portal ", member_id_, " needs reinstallation: ", code);
      return Complete(ReinstallError(member_id_, code, detail->metadata["error_description"]));
    }
    absl::StatusOr<bool> won = m_.store_.SwapTokens(member_id_, row.cas_token, *update);
    if (!won.ok()) {
      // The new pair exists only in memory now; use it so this process keeps working.
      m_.log_.Error("refreshed tokens of ", member_id_, " could not be stored: ", won.status().message());
      storage::PortalRecord fresh = row;
      fresh.access_token = update->access_token;
      fresh.refresh_token = update->refresh_token;
      fresh.expires_at = update->expires_at;
      return Complete(absl::OkStatus(), fresh);
    }
    absl::StatusOr<storage::PortalRecord> fresh = m_.store_.Get(member_id_);
    if (!fresh.ok()) return Complete(fresh.status());
    Complete(absl::OkStatus(), *fresh);
  }

  OAuthManager& m_;
  const std::string member_id_;
  absl::Mutex mu_;
  storage::PortalRecord record_ ABSL_GUARDED_BY(mu_);
  bool refreshing_ ABSL_GUARDED_BY(mu_) = false;
  std::string stale_ ABSL_GUARDED_BY(mu_);
  std::string dead_token_ ABSL_GUARDED_BY(mu_);  // rejected by the portal as expired: never sent again
  absl::Time failed_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status failure_ ABSL_GUARDED_BY(mu_);  // of the last refresh, while failed_until_ is ahead
  absl::Time started_ ABSL_GUARDED_BY(mu_);
  std::vector<TokenCallback> waiters_ ABSL_GUARDED_BY(mu_);
};

OAuthManager::OAuthManager(storage::TokenStore& store, http::Transport& transport, const http::HostPolicy& policy,
                           Clock& clock, Logger& log, OAuthOptions options)
    : store_(store), transport_(transport), policy_(policy), clock_(clock), log_(log), options_(std::move(options)) {}

OAuthManager::~OAuthManager() = default;

std::string OAuthManager::TokenUrl(const std::string& server_endpoint) const {
  // The client secret goes to this URL: only Bitrix24's OAuth servers (or the
  // configured one, or loopback when allowed for tests) are trusted with it,
  // whatever an install payload claimed as its server_endpoint.
  // An explicit oauth.server wins (documented in docs/configuration.md).
  if (!options_.token_url.empty()) return options_.token_url;
  absl::StatusOr<http::Url> u = http::ParseUrl(server_endpoint);
  if (server_endpoint.empty() || !u.ok()) return kDefaultTokenUrl;
  bool trusted = u->host == "oauth.bitrix.info" || u->host == "oauth.bitrix24.tech" ||
                 (http::HostPolicy::IsLoopback(u->host) && policy_.Check(*u).ok());
  return trusted ? u->Origin() + "/oauth/token/" : kDefaultTokenUrl;
}

void OAuthManager::Forget(const std::string& member_id) {
  absl::MutexLock lock(&mu_);
  portals_.erase(member_id);
}

void OAuthManager::ListPortals(std::function<void(absl::StatusOr<std::vector<storage::PortalRecord>>)> done) {
  worker_.Post([this, done = std::move(done)] { done(store_.List()); });
}

void OAuthManager::RemovePortal(const std::string& member_id, std::function<void(absl::StatusOr<bool>)> done) {
  worker_.Post([this, member_id, done = std::move(done)] {
    absl::StatusOr<bool> removed = store_.Remove(member_id);
    if (removed.ok()) Forget(member_id);
    done(removed);
  });
}

int64_t OAuthManager::refresh_failures() const {
  absl::MutexLock lock(&mu_);
  return refresh_failures_;
}

int64_t OAuthManager::refresh_requests() const {
  absl::MutexLock lock(&mu_);
  return refresh_requests_;
}

absl::StatusOr<rest::Portal> OAuthManager::Find(const std::string& member_id) {
  std::shared_ptr<PortalTokens> tokens;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = portals_.find(member_id); it != portals_.end()) tokens = it->second;
  }
  if (!tokens) {
    absl::StatusOr<storage::PortalRecord> row = store_.Get(member_id);
    if (!row.ok()) {
      if (row.status().code() == absl::StatusCode::kNotFound) {
        return GatewayError(absl::StatusCode::kNotFound, "UNKNOWN_PORTAL",
                            absl::StrCat("no app is installed on member_id '", member_id, "'"));
      }
      return row.status();
    }
    absl::MutexLock lock(&mu_);
    auto& slot = portals_[member_id];
    if (!slot) slot = std::make_shared<PortalTokens>(*this, *std::move(row));
    tokens = slot;
  }
  storage::PortalRecord r = tokens->record();
  if (r.needs_reinstall) return ReinstallError(member_id, "", "marked for reinstallation");
  absl::StatusOr<http::Url> url = http::ParseUrl(r.client_endpoint);
  if (!url.ok()) {
    return GatewayError(absl::StatusCode::kFailedPrecondition, "BAD_CLIENT_ENDPOINT",
                        absl::StrCat("portal ", member_id, " has an invalid client_endpoint stored"));
  }
  if (absl::Status s = policy_.Check(*url); !s.ok()) return s;
  rest::Portal p;
  p.id = member_id;
  p.base_url = url->Origin() + (url->path.back() == '/' ? url->path : url->path + "/");
  p.host = url->HostPort();
  p.tokens = tokens;
  return p;
}

}  // namespace b24::auth
