#include "service/http/url.h"

#include <gtest/gtest.h>

#include "service/common/status.h"

namespace b24::http {
namespace {

TEST(UrlTest, ParsesPortalUrls) {
  auto u = ParseUrl("https://Example.Bitrix24.com/rest/1/abc/?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "example.bitrix24.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/rest/1/abc/");
  EXPECT_EQ(u->query, "x=1");
  EXPECT_EQ(u->Origin(), "https://example.bitrix24.com");
  auto local = ParseUrl("http://127.0.0.1:8080/rest/");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->Origin(), "http://127.0.0.1:8080");
  EXPECT_EQ(local->HostPort(), "127.0.0.1:8080");
  EXPECT_EQ(u->HostPort(), "example.bitrix24.com");
}

TEST(UrlTest, RejectsWhatIsNotAPlainHttpUrl) {
  for (const char* bad :
       {"ftp://x.com/", "x.bitrix24.com/rest/", "https://user:pw@x.bitrix24.com/", "https://x.bitrix24.com:99999/",
        "https:///rest/", "https://x.com/a#frag", "https://a b.com/", "http://::1:8080/rest/", "http://fe80::1/",
        "http://[zz::1]/", "https://x.bitrix24.com/rest/1/a b/", "https://x.bitrix24.com/rest/\x01/",
        "https://x.bitrix24.com/rest/\xd0\xb0/", "https://x.bitrix24.com/a\"b"}) {
    EXPECT_FALSE(ParseUrl(bad).ok()) << bad;
  }
}

TEST(HostPolicyTest, AllowsConfiguredSuffixesOnly) {
  HostPolicy policy({"bitrix24.com", "*.example.org"}, false, false);
  EXPECT_TRUE(policy.Check(*ParseUrl("https://a.bitrix24.com/")).ok());
  EXPECT_TRUE(policy.Check(*ParseUrl("https://bitrix24.com/")).ok());
  EXPECT_TRUE(policy.Check(*ParseUrl("https://x.example.org/")).ok());
  absl::Status evil = policy.Check(*ParseUrl("https://evilbitrix24.com/"));
  EXPECT_EQ(evil.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetail(evil)->reason, "HOST_NOT_ALLOWED");
  EXPECT_FALSE(policy.Check(*ParseUrl("https://bitrix24.com.evil.net/")).ok());
  EXPECT_FALSE(policy.Check(*ParseUrl("http://a.bitrix24.com/")).ok());
  EXPECT_FALSE(policy.Check(*ParseUrl("https://127.0.0.1/")).ok());
  EXPECT_FALSE(policy.Check(*ParseUrl("https://localhost/")).ok());
  EXPECT_FALSE(policy.Check(*ParseUrl("https://[::1]/")).ok());
}

TEST(HostPolicyTest, LoopbackAndHttpOnlyWhenConfigured) {
  HostPolicy policy({}, true, true);
  EXPECT_TRUE(policy.Check(*ParseUrl("http://127.0.0.1:9/")).ok());
  EXPECT_FALSE(policy.Check(*ParseUrl("http://a.bitrix24.com/")).ok());
}

}  // namespace
}  // namespace b24::http
