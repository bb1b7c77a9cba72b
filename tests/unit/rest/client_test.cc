#include "service/rest/client.h"

#include <gtest/gtest.h>

#include <sstream>

#include "service/common/status.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_transport.h"

namespace b24::rest {
namespace {

using testing::FakeClock;
using testing::FakeTransport;

class FakeTokens : public TokenProvider {
 public:
  void Token(TokenCallback done) override { done(token); }
  void Refresh(const std::string& stale, TokenCallback done) override {
    refreshes++;
    EXPECT_EQ(stale, token);
    token = "fresh";
    done(token);
  }
  std::string token = "old";
  int refreshes = 0;
};

class RestClientTest : public ::testing::Test {
 protected:
  RestClientTest()
      : log_(&log_text_, LogLevel::kDebug),
        executor_(transport_, clock_, log_, {}),
        policy_({"bitrix24.com"}, false, false),
        client_(executor_, policy_, clock_, log_, NoPlanDetection()) {}

  // These tests count requests; plan detection would add an app.info.
  static RestClientOptions NoPlanDetection() {
    RestClientOptions o;
    o.detect_plan = false;
    return o;
  }

  absl::StatusOr<Envelope> CallNow(const Portal& p, const std::string& method, Json params = Json::object()) {
    absl::StatusOr<Envelope> out = absl::UnknownError("pending");
    client_.Call(p, method, params, absl::InfiniteFuture(), [&](absl::StatusOr<Envelope> e) { out = std::move(e); });
    return out;
  }

  std::ostringstream log_text_;
  Logger log_;
  FakeClock clock_;
  FakeTransport transport_;
  exec::Executor executor_;
  http::HostPolicy policy_;
  RestClient client_;
  Portal webhook_{"crm", "https://a.bitrix24.com/rest/1/secretcode/", "a.bitrix24.com", nullptr};
};

TEST_F(RestClientTest, PostsJsonToTheWebhookAndDecodes) {
  transport_.SetResponder(
      [](const http::HttpRequest&) { return FakeTransport::Json(200, R"({"result":{"ID":"7"}})"); });
  auto env = CallNow(webhook_, "crm.deal.get", {{"id", 7}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->result["ID"], "7");
  auto sent = transport_.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].url, "https://a.bitrix24.com/rest/1/secretcode/crm.deal.get");
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].body, R"({"id":7})");
  EXPECT_EQ(log_text_.str().find("secretcode"), std::string::npos) << "webhook code leaked into the log";
}

TEST_F(RestClientTest, RejectsBadMethodNamesWithoutSending) {
  auto env = CallNow(webhook_, "../../admin");
  EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(transport_.sent().empty());
}

TEST_F(RestClientTest, FollowsAPortalRenameWithTheSamePost) {
  std::string renamed_to;
  client_.SetRenameHook([&](const Portal&, const std::string& url) { renamed_to = url; });
  transport_.SetResponder([](const http::HttpRequest& r) -> std::optional<absl::StatusOr<http::HttpResponse>> {
    if (r.url.find("a.bitrix24.com") != std::string::npos) {
      http::HttpResponse moved;
      moved.status = 302;
      moved.headers = {{"location", "https://b.bitrix24.com/rest/1/secretcode/crm.deal.add"}};
      return moved;
    }
    return FakeTransport::Json(200, R"({"result":5})");
  });
  auto env = CallNow(webhook_, "crm.deal.add", {{"fields", {{"TITLE", "x"}}}});
  ASSERT_TRUE(env.ok()) << env.status();
  auto sent = transport_.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].url, "https://b.bitrix24.com/rest/1/secretcode/crm.deal.add");
  EXPECT_EQ(sent[1].body, sent[0].body);
  EXPECT_EQ(renamed_to, "https://b.bitrix24.com/rest/1/secretcode/");
}

TEST_F(RestClientTest, ARedirectToADisallowedHostIsNotFollowed) {
  bool renamed = false;
  client_.SetRenameHook([&](const Portal&, const std::string&) { renamed = true; });
  transport_.SetResponder([](const http::HttpRequest& r) -> std::optional<absl::StatusOr<http::HttpResponse>> {
    http::HttpResponse moved;
    moved.status = 302;
    moved.headers = {{"location", "https://evil.example.com/steal"}};
    return moved;
  });
  auto env = CallNow(webhook_, "profile");
  EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetail(env.status())->reason, "HOST_NOT_ALLOWED");
  EXPECT_EQ(transport_.sent().size(), 1u);
  EXPECT_FALSE(renamed) << "a disallowed host must never be stored as the portal's new home";
}

TEST_F(RestClientTest, RefreshesOnExpiredTokenAndRepeatsOnce) {
  auto tokens = std::make_shared<FakeTokens>();
  Portal oauth{"member", "https://a.bitrix24.com/rest/", "a.bitrix24.com", tokens};
  transport_.SetResponder([](const http::HttpRequest& r) -> std::optional<absl::StatusOr<http::HttpResponse>> {
    for (const auto& [k, v] : r.headers) {
      if (k == "Authorization" && v == "Bearer fresh") return FakeTransport::Json(200, R"({"result":true})");
    }
    return FakeTransport::Json(
        401, R"({"error":"expired_token","error_description":"The access token provided has expired"})");
  });
  auto env = CallNow(oauth, "crm.deal.update");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(tokens->refreshes, 1);
  EXPECT_EQ(transport_.sent().size(), 2u);
  EXPECT_EQ(log_text_.str().find("Bearer"), std::string::npos);
}

TEST_F(RestClientTest, AnExpiredTokenAfterRefreshIsReported) {
  auto tokens = std::make_shared<FakeTokens>();
  Portal oauth{"member", "https://a.bitrix24.com/rest/", "a.bitrix24.com", tokens};
  transport_.SetResponder([](const http::HttpRequest&) {
    return FakeTransport::Json(401, R"({"error":"expired_token","error_description":"expired"})");
  });
  auto env = CallNow(oauth, "profile");
  EXPECT_EQ(env.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(tokens->refreshes, 1);
  EXPECT_EQ(transport_.sent().size(), 2u);
}

}  // namespace
}  // namespace b24::rest
