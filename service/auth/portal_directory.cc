#include "service/auth/portal_directory.h"

#include <algorithm>

#include "absl/strings/ascii.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/common/status.h"

namespace b24::auth {

PortalDirectory::PortalDirectory(const http::HostPolicy& policy, std::map<std::string, std::string> named_webhooks,
                                 OAuthPortals* oauth)
    : policy_(policy), named_(std::move(named_webhooks)), oauth_(oauth) {}

absl::Status PortalDirectory::Validate() const {
  for (const auto& [name, url] : named_) {
    if (auto p = Webhook(url, name); !p.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("webhooks.", name, ": ", p.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<rest::Portal> PortalDirectory::Webhook(const std::string& text, const std::string& id) const {
  absl::StatusOr<http::Url> url = http::ParseUrl(text);
  if (!url.ok()) {
    return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_WEBHOOK_URL",
                        absl::StrCat("webhook URL is invalid: ", url.status().message()));
  }
  // /rest/<user>/<code>/ with an optional trailing slash and nothing after it.
  std::vector<std::string> parts = absl::StrSplit(url->path, '/', absl::SkipEmpty());
  if (parts.size() != 3 || parts[0] != "rest" || !url->query.empty()) {
    return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_WEBHOOK_URL",
                        "a webhook URL must look like https://HOST/rest/<user_id>/<code>/");
  }
  auto only = [](const std::string& s, auto allowed) { return !s.empty() && std::all_of(s.begin(), s.end(), allowed); };
  if (!only(parts[1], absl::ascii_isdigit)) {
    return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_WEBHOOK_URL",
                        "the user id in a webhook URL (/rest/<user_id>/<code>/) must be a number");
  }
  if (!only(parts[2], [](char c) { return absl::ascii_isalnum(c) || c == '_' || c == '-'; })) {
    return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_WEBHOOK_URL",
                        "the code in a webhook URL (/rest/<user_id>/<code>/) may contain only letters, digits, "
                        "'_' and '-'; copy it again from the Bitrix24 webhook page");
  }
  if (absl::Status s = policy_.Check(*url); !s.ok()) return s;
  rest::Portal p;
  p.host = url->HostPort();
  p.id = id.empty() ? absl::StrCat("webhook ", parts[1], "@", p.host) : id;
  p.base_url = absl::StrCat(url->Origin(), "/rest/", parts[1], "/", parts[2], "/");
  return p;
}

absl::StatusOr<rest::Portal> PortalDirectory::ByWebhookUrl(const std::string& url) const { return Webhook(url, ""); }

absl::StatusOr<rest::Portal> PortalDirectory::ByName(const std::string& name) const {
  auto it = named_.find(name);
  if (it == named_.end()) {
    return GatewayError(absl::StatusCode::kNotFound, "UNKNOWN_PORTAL",
                        absl::StrCat("no webhook named '", name, "' is configured (webhooks.<name>)"));
  }
  return Webhook(it->second, name);
}

absl::StatusOr<rest::Portal> PortalDirectory::ByMemberId(const std::string& member_id) const {
  if (!oauth_) {
    return GatewayError(absl::StatusCode::kNotFound, "UNKNOWN_PORTAL",
                        absl::StrCat("no app is installed on member_id '", member_id, "'"));
  }
  return oauth_->Find(member_id);
}

}  // namespace b24::auth
