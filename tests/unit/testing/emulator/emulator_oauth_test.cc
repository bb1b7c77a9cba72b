// The OAuth server (§6) and token checks on the portal (§1.2, §2.1).
#include "tests/unit/testing/emulator/emulator_test_base.h"

#include "absl/strings/str_cat.h"

namespace b24::testing {
namespace {

constexpr char kClientId[] = "local.6540a1b2c3d4e5.12345678";
constexpr char kSecret[] = "s3cr3t";

class EmulatorOAuthTest : public EmulatorTestBase {
 protected:
  void SetUp() override {
    EmulatorTestBase::SetUp();
    emu_.RegisterApp({kClientId, kSecret, "crm,user", "P"});
    absl::StatusOr<Installation> inst = emu_.Install(portal_.id, kClientId);
    ASSERT_TRUE(inst.ok());
    inst_ = *inst;
  }
  CurlResponse Refresh(const std::string& refresh_token, const std::string& secret = kSecret,
                       const std::string& client_id = kClientId) {
    return curl_.Get(absl::StrCat(emu_.oauth_token_url(), "?grant_type=refresh_token&client_id=", client_id,
                                  "&client_secret=", secret, "&refresh_token=", refresh_token));
  }
  CurlResponse Profile(const std::string& token) {
    return curl_.Get(portal_.client_endpoint + "profile?auth=" + token);
  }
  Installation inst_;
};

TEST_F(EmulatorOAuthTest, InstallationAndTokenCarriers) {
  EXPECT_EQ(inst_.member_id, portal_.member_id);
  EXPECT_EQ(inst_.member_id.size(), 32u);
  EXPECT_EQ(inst_.application_token.size(), 32u);
  EXPECT_EQ(inst_.client_endpoint, portal_.client_endpoint);
  EXPECT_EQ(inst_.server_endpoint, emu_.oauth_server_endpoint());
  EXPECT_EQ(inst_.expires, clock_.Now() + absl::Hours(1));
  EXPECT_EQ(Profile(inst_.access_token).status, 200);
  EXPECT_EQ(curl_.Get(portal_.client_endpoint + "profile.json?access_token=" + inst_.access_token).status, 200);
  CurlResponse r = curl_.Get(portal_.client_endpoint + "app.info", {"Authorization: Bearer " + inst_.access_token});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["result"]["CODE"], kClientId);
  EXPECT_EQ(r.json()["result"]["STATUS"], "P");
  r = curl_.PostJson(portal_.client_endpoint + "crm.deal.get", Json{{"auth", inst_.access_token}, {"id", 4}});
  EXPECT_EQ(r.json()["result"]["ID"], "4");
  // The same application token on a re-install; tokens belong to one portal.
  EXPECT_EQ(emu_.Install(portal_.id, kClientId)->application_token, inst_.application_token);
  absl::StatusOr<PortalInfo> other = emu_.AddPortal(DefaultPortal());
  ExpectError(curl_.Get(other->client_endpoint + "profile?auth=" + inst_.access_token), 401, "invalid_token",
              "Unable to get application by token");
  EXPECT_FALSE(emu_.Install(portal_.id, "unknown.app").ok());
}

TEST_F(EmulatorOAuthTest, RefreshRotatesAndKillsTheOldPair) {
  CurlResponse r = Refresh(inst_.refresh_token);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = r.json();
  for (const char* field : {"access_token", "expires", "expires_in", "scope", "domain", "server_endpoint", "status",
                            "client_endpoint", "member_id", "user_id", "refresh_token"}) {
    EXPECT_TRUE(j.contains(field)) << field;
  }
  EXPECT_EQ(j["expires_in"], 3600);
  EXPECT_EQ(j["expires"], 1700000000 + 3600);
  EXPECT_EQ(j["member_id"], portal_.member_id);
  EXPECT_EQ(j["client_endpoint"], portal_.client_endpoint);
  EXPECT_EQ(j["server_endpoint"], emu_.oauth_server_endpoint());
  EXPECT_EQ(j["domain"], absl::StrCat("127.0.0.1:", emu_.oauth_port()));
  EXPECT_EQ(j["user_id"], 1);
  EXPECT_EQ(j["scope"], "crm,user");
  EXPECT_EQ(j["status"], "P");
  EXPECT_NE(j["refresh_token"], inst_.refresh_token);
  ExpectError(Refresh(inst_.refresh_token), 400, "invalid_grant", "Invalid refresh token");
  ExpectError(Profile(inst_.access_token), 401, "invalid_token", "Unable to get application by token");
  EXPECT_EQ(Profile(j["access_token"].get<std::string>()).status, 200);
  // POST form works as well and rotates again.
  r = curl_.Post(emu_.oauth_token_url(),
                 absl::StrCat("grant_type=refresh_token&client_id=", kClientId, "&client_secret=", kSecret,
                              "&refresh_token=", j["refresh_token"].get<std::string>()),
                 "application/x-www-form-urlencoded");
  EXPECT_EQ(r.status, 200) << r.body;
  EmulatorStats s = emu_.Stats();
  EXPECT_EQ(s.oauth_refresh_requests, 3);
  EXPECT_EQ(s.oauth_invalid_grant, 1);
}

TEST_F(EmulatorOAuthTest, ClientErrors) {
  CurlResponse r = Refresh(inst_.refresh_token, kSecret, "local.nobody");
  EXPECT_EQ(r.status, 200);  // Sic.
  EXPECT_EQ(r.json()["error"], "wrong_client");
  ExpectError(Refresh(inst_.refresh_token, "bad"), 400, "invalid_client", "Invalid client credentials");
  ExpectError(Refresh(""), 400, "invalid_request", "No \"refresh_token\" parameter found");
  // None of these used up the refresh token.
  EXPECT_EQ(Refresh(inst_.refresh_token).status, 200);
}

TEST_F(EmulatorOAuthTest, AccessTokenExpiry) {
  clock_.Advance(absl::Seconds(3599));
  EXPECT_EQ(Profile(inst_.access_token).status, 200);
  clock_.Advance(absl::Seconds(1));
  ExpectError(Profile(inst_.access_token), 401, "expired_token", "The access token provided has expired");
  Installation fresh = *emu_.Install(portal_.id, kClientId);
  EXPECT_EQ(Profile(fresh.access_token).status, 200);
  emu_.ExpireAccessTokens(portal_.id);
  EXPECT_EQ(Profile(fresh.access_token).json()["error"], "expired_token");
  emu_.SetAccessTokenLifetime(absl::Seconds(10));
  Json j = Refresh(fresh.refresh_token).json();
  EXPECT_EQ(j["expires_in"], 10);
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(Profile(j["access_token"].get<std::string>()).json()["error"], "expired_token");
}

TEST_F(EmulatorOAuthTest, AuthorizationCodeFlow) {
  std::string code = *emu_.IssueAuthCode(portal_.id, kClientId, 5);
  std::string url = absl::StrCat(emu_.oauth_token_url(), "?grant_type=authorization_code&client_id=", kClientId,
                                 "&client_secret=", kSecret, "&code=");
  CurlResponse r = curl_.Get(url + code);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["user_id"], 5);
  EXPECT_EQ(Profile(r.json()["access_token"].get<std::string>()).json()["result"]["ID"], "5");
  EXPECT_EQ(curl_.Get(url + code).json()["error"], "invalid_grant");  // Single use.
  code = *emu_.IssueAuthCode(portal_.id, kClientId);
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(curl_.Get(url + code).json()["error"], "invalid_grant");
  EXPECT_EQ(emu_.Stats().oauth_code_requests, 3);
}

TEST_F(EmulatorOAuthTest, UninstallRevokesEverything) {
  emu_.Uninstall(portal_.id, kClientId);
  EXPECT_EQ(Profile(inst_.access_token).json()["error"], "invalid_token");
  EXPECT_EQ(Refresh(inst_.refresh_token).json()["error"], "invalid_grant");
}

TEST_F(EmulatorOAuthTest, RefreshAnsweredThenDroppedLosesTheNewPair) {
  emu_.InjectFault(Emulator::kOAuthServer, Fault::DropAfterExecute("refresh_token"));
  EXPECT_EQ(Refresh(inst_.refresh_token).code, CURLE_GOT_NOTHING);
  // The rotation happened: the old pair is dead and the new one was never seen.
  EXPECT_EQ(Refresh(inst_.refresh_token).json()["error"], "invalid_grant");
  EXPECT_EQ(Profile(inst_.access_token).json()["error"], "invalid_token");
  emu_.InjectFault(Emulator::kOAuthServer, Fault::Html(502));
  CurlResponse r = Refresh(inst_.refresh_token);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.body, "<html>Bad Gateway</html>");
}

}  // namespace
}  // namespace b24::testing
