// PortalDirectory decides which portal a call goes to — and, for webhook URLs
// a caller sends, whether the gateway may call it at all. A refused URL sends
// nothing, and no message repeats the webhook's code (its secret).
#include "service/auth/portal_directory.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "service/common/status.h"
#include "service/http/url.h"

namespace b24::auth {
namespace {

constexpr char kCode[] = "s3cr3tC0de_x-9";

http::HostPolicy Policy() {
  return http::HostPolicy({"bitrix24.com", "*.bitrix24.de", "example.org"}, /*allow_http=*/false,
                          /*allow_loopback=*/false);
}

std::string Hook(const std::string& before, const std::string& after = "/") { return before + kCode + after; }

struct WebhookCase {
  std::string url;
  const char* reason;  // "" = accepted
  // When accepted:
  const char* id = "";
  const char* host = "";
  std::string base_url = "";
};

TEST(PortalDirectoryTest, WebhookUrls) {
  const std::string base = Hook("https://example.bitrix24.com/rest/1/");
  const WebhookCase cases[] = {
      // Accepted.
      {base, "", "webhook 1@example.bitrix24.com", "example.bitrix24.com", base},
      {Hook("https://example.bitrix24.com/rest/1/", ""), "", "webhook 1@example.bitrix24.com", "example.bitrix24.com",
       base},
      {Hook("HTTPS://Example.Bitrix24.COM/rest/1/"), "", "webhook 1@example.bitrix24.com", "example.bitrix24.com",
       base},  // scheme and host lower-cased, the code kept as written
      {Hook("https://example.bitrix24.com:443/rest/1/"), "", "webhook 1@example.bitrix24.com", "example.bitrix24.com",
       base},
      {Hook("https://example.bitrix24.com:8443/rest/1/"), "", "webhook 1@example.bitrix24.com:8443",
       "example.bitrix24.com:8443", Hook("https://example.bitrix24.com:8443/rest/1/")},
      {Hook("https://bitrix24.com/rest/42/"), "", "webhook 42@bitrix24.com", "bitrix24.com",
       Hook("https://bitrix24.com/rest/42/")},
      {Hook("https://a.b.bitrix24.de/rest/007/"), "", "webhook 007@a.b.bitrix24.de", "a.b.bitrix24.de",
       Hook("https://a.b.bitrix24.de/rest/007/")},
      {Hook("https://bitrix24.de/rest/1/"), "", "webhook 1@bitrix24.de", "bitrix24.de",
       Hook("https://bitrix24.de/rest/1/")},  // "*.bitrix24.de" allows bitrix24.de itself too
      {Hook("https://example.bitrix24.com//rest//1//", "//"), "", "webhook 1@example.bitrix24.com",
       "example.bitrix24.com", base},  // empty path segments are skipped
      {Hook("https://example.bitrix24.com/rest/1/", "/?"), "", "webhook 1@example.bitrix24.com", "example.bitrix24.com",
       base},  // an empty query is no query
      // Not a URL the gateway parses.
      {"example.bitrix24.com/rest/1/x/", "INVALID_WEBHOOK_URL"},
      {"", "INVALID_WEBHOOK_URL"},
      {Hook("ftp://example.bitrix24.com/rest/1/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://user:pw@example.bitrix24.com/rest/1/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1/", "/#top"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1/", " /"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com:0/rest/1/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://exa mple.bitrix24.com/rest/1/"), "INVALID_WEBHOOK_URL"},
      // Not /rest/<user_id>/<code>/.
      {"https://example.bitrix24.com/rest/", "INVALID_WEBHOOK_URL"},
      {"https://example.bitrix24.com/rest/1/", "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1/", "/crm.deal.list"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1/", "/crm.deal.list.json"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/api/1/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/REST/1/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/x/rest/1/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1/", "/?auth=abc"), "INVALID_WEBHOOK_URL"},
      // The user id is digits only.
      {Hook("https://example.bitrix24.com/rest/admin/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/-1/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/+1/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1a/"), "INVALID_WEBHOOK_URL"},
      // The code is letters, digits, '_' and '-'.
      {Hook("https://example.bitrix24.com/rest/1/%41"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1/", ".json/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1/", "!/"), "INVALID_WEBHOOK_URL"},
      {Hook("https://example.bitrix24.com/rest/1/", "%2F/"), "INVALID_WEBHOOK_URL"},
      // The shape is checked before the host: a bad URL says nothing about hosts.
      {Hook("https://evil.com/rest/admin/"), "INVALID_WEBHOOK_URL"},
      // Hosts outside security.allowed_hosts, plain http, loopback.
      {Hook("http://example.bitrix24.com/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://evil.com/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://evilbitrix24.com/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://bitrix24.com.evil.com/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://example.bitrix24.ru/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://127.0.0.1/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://localhost/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://portal.localhost/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://[::1]/rest/1/"), "HOST_NOT_ALLOWED"},
      {Hook("https://0.0.0.0/rest/1/"), "HOST_NOT_ALLOWED"},
  };
  http::HostPolicy policy = Policy();
  PortalDirectory directory(policy, {}, nullptr);
  for (const WebhookCase& c : cases) {
    SCOPED_TRACE(c.url);
    absl::StatusOr<rest::Portal> p = directory.ByWebhookUrl(c.url);
    if (std::string(c.reason).empty()) {
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_EQ(p->id, c.id);
      EXPECT_EQ(p->host, c.host);
      EXPECT_EQ(p->base_url, c.base_url);
      EXPECT_EQ(p->tokens, nullptr);
      continue;
    }
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    std::optional<ErrorDetail> detail = GetErrorDetail(p.status());
    ASSERT_TRUE(detail.has_value());
    EXPECT_EQ(detail->reason, c.reason);
    EXPECT_EQ(detail->domain, kDomainGateway);
    EXPECT_EQ(p.status().message().find(kCode), absl::string_view::npos) << p.status();
  }
}

TEST(PortalDirectoryTest, WebhooksAllowedByConfiguration) {
  http::HostPolicy local({}, /*allow_http=*/true, /*allow_loopback=*/true);
  PortalDirectory directory(local, {}, nullptr);
  absl::StatusOr<rest::Portal> p = directory.ByWebhookUrl(Hook("http://127.0.0.1:8080/rest/3/"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->id, "webhook 3@127.0.0.1:8080");
  EXPECT_EQ(p->host, "127.0.0.1:8080");
  EXPECT_EQ(p->base_url, Hook("http://127.0.0.1:8080/rest/3/"));
  absl::StatusOr<rest::Portal> ipv6 = directory.ByWebhookUrl(Hook("http://[::1]:8080/rest/3/"));
  ASSERT_TRUE(ipv6.ok()) << ipv6.status();
  EXPECT_EQ(ipv6->host, "::1:8080");
  EXPECT_EQ(ipv6->base_url, Hook("http://[::1]:8080/rest/3/"));
  // Loopback allowed is not every host allowed.
  EXPECT_EQ(GetErrorDetail(directory.ByWebhookUrl(Hook("http://example.bitrix24.com/rest/1/")).status())->reason,
            "HOST_NOT_ALLOWED");
}

TEST(PortalDirectoryTest, NamedWebhooks) {
  const std::map<std::string, std::string> named = {
      {"main", Hook("https://example.bitrix24.com/rest/1/")},
      {"eu", Hook("https://Portal.Bitrix24.de/rest/5/", "")},
  };
  http::HostPolicy policy = Policy();
  PortalDirectory directory(policy, named, nullptr);
  EXPECT_TRUE(directory.Validate().ok());
  EXPECT_EQ(directory.named_webhooks(), named);

  absl::StatusOr<rest::Portal> main = directory.ByName("main");
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ(main->id, "main");  // the name, not the URL (which holds the code)
  EXPECT_EQ(main->host, "example.bitrix24.com");
  EXPECT_EQ(main->base_url, Hook("https://example.bitrix24.com/rest/1/"));
  EXPECT_EQ(main->tokens, nullptr);
  absl::StatusOr<rest::Portal> eu = directory.ByName("eu");
  ASSERT_TRUE(eu.ok()) << eu.status();
  EXPECT_EQ(eu->id, "eu");
  EXPECT_EQ(eu->base_url, Hook("https://portal.bitrix24.de/rest/5/"));

  for (const char* unknown : {"nope", "", "MAIN"}) {
    absl::StatusOr<rest::Portal> p = directory.ByName(unknown);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound) << unknown;
    EXPECT_EQ(GetErrorDetail(p.status())->reason, "UNKNOWN_PORTAL") << unknown;
    EXPECT_NE(p.status().message().find(std::string("'") + unknown + "'"), absl::string_view::npos) << p.status();
  }
}

TEST(PortalDirectoryTest, BadNamedWebhooksFailValidationAndResolution) {
  http::HostPolicy policy = Policy();
  PortalDirectory directory(
      policy, {{"good", Hook("https://example.bitrix24.com/rest/1/")}, {"outside", Hook("https://evil.com/rest/1/")}},
      nullptr);
  absl::Status v = directory.Validate();
  EXPECT_EQ(v.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(v.message(), "webhooks.outside: ")) << v;
  EXPECT_EQ(v.message().find(kCode), absl::string_view::npos) << v;
  absl::StatusOr<rest::Portal> p = directory.ByName("outside");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetail(p.status())->reason, "HOST_NOT_ALLOWED");
  EXPECT_TRUE(directory.ByName("good").ok());

  PortalDirectory malformed(policy, {{"typo", "https://example.bitrix24.com/rest/1/"}}, nullptr);
  EXPECT_EQ(malformed.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetail(malformed.ByName("typo").status())->reason, "INVALID_WEBHOOK_URL");
}

TEST(PortalDirectoryTest, MemberIdWithoutOAuthIsUnknown) {
  http::HostPolicy policy = Policy();
  PortalDirectory directory(policy, {}, nullptr);
  absl::StatusOr<rest::Portal> p = directory.ByMemberId("a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorDetail(p.status())->reason, "UNKNOWN_PORTAL");
  EXPECT_EQ(GetErrorDetail(p.status())->domain, kDomainGateway);
  EXPECT_NE(p.status().message().find("'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5'"), absl::string_view::npos);
}

class OnePortal : public OAuthPortals {
 public:
  absl::StatusOr<rest::Portal> Find(const std::string& member_id) override {
    asked = member_id;
    if (member_id != "m1") return absl::NotFoundError("no app on " + member_id);
    rest::Portal p;
    p.id = "m1";
    p.base_url = "https://example.bitrix24.com/rest/";
    p.host = "example.bitrix24.com";
    return p;
  }
  std::string asked;
};

TEST(PortalDirectoryTest, MemberIdsGoToTheOAuthPortals) {
  OnePortal oauth;
  http::HostPolicy policy = Policy();
  PortalDirectory directory(policy, {}, &oauth);
  absl::StatusOr<rest::Portal> p = directory.ByMemberId("m1");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->id, "m1");
  EXPECT_EQ(p->base_url, "https://example.bitrix24.com/rest/");
  absl::StatusOr<rest::Portal> other = directory.ByMemberId("m2");
  EXPECT_EQ(oauth.asked, "m2");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(other.status().message(), "no app on m2");  // passed through as the store said it
}

}  // namespace
}  // namespace b24::auth
