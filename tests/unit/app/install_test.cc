#include "service/app/install.h"

#include <gtest/gtest.h>

namespace b24::app {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

TEST(ParseInstallTest, ReadsTheUiInstallationPost) {
  InstallInput in;
  in.kind = InstallInput::Kind::kUi;
  in.client_id = "local.1";
  in.client_secret = "secret";
  in.fields = {{"DOMAIN", "example.bitrix24.com"},
               {"PROTOCOL", "1"},
               {"AUTH_ID", "at"},
               {"AUTH_EXPIRES", "3600"},
               {"REFRESH_ID", "rt"},
               {"member_id", "abc123"},
               {"SERVER_ENDPOINT", "https://oauth.bitrix.info/rest/"},
               {"APPLICATION_TOKEN", "apptok"}};
  auto r = ParseInstall(in, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->member_id, "abc123");
  EXPECT_EQ(r->client_endpoint, "https://example.bitrix24.com/rest/");
  EXPECT_EQ(r->access_token, "at");
  EXPECT_EQ(r->refresh_token, "rt");
  EXPECT_EQ(r->application_token, "apptok");
  EXPECT_EQ(r->expires_at, 1'700'003'600);
  in.fields["PROTOCOL"] = "0";
  EXPECT_EQ(ParseInstall(in, kNow)->client_endpoint, "http://example.bitrix24.com/rest/");
}

TEST(ParseInstallTest, ReadsTheOnAppInstallEvent) {
  InstallInput in;
  in.kind = InstallInput::Kind::kOnAppInstall;
  in.client_id = "local.1";
  in.client_secret = "secret";
  in.fields = {{"event", "ONAPPINSTALL"},
               {"auth[access_token]", "at"},
               {"auth[refresh_token]", "rt"},
               {"auth[member_id]", "abc123"},
               {"auth[domain]", "example.bitrix24.com"},
               {"auth[client_endpoint]", "https://example.bitrix24.com/rest/"},
               {"auth[expires]", "1700000123"},
               {"auth[expires_in]", "3600"}};
  auto r = ParseInstall(in, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->expires_at, 1'700'000'123);
  in.fields["event"] = "ONAPPUNINSTALL";
  EXPECT_EQ(ParseInstall(in, kNow).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseInstallTest, NamesWhatIsMissing) {
  InstallInput in;
  in.kind = InstallInput::Kind::kUi;
  in.client_id = "local.1";
  in.client_secret = "secret";
  in.fields = {{"DOMAIN", "example.bitrix24.com"}, {"AUTH_ID", "at"}, {"member_id", "m"}};
  auto r = ParseInstall(in, kNow);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("REFRESH_ID"), std::string::npos) << r.status();
  in.fields["REFRESH_ID"] = "rt";
  in.client_secret.clear();
  EXPECT_NE(ParseInstall(in, kNow).status().message().find("client_secret"), std::string::npos);
  in.client_secret = "secret";
  in.fields["member_id"] = "../../x";
  EXPECT_EQ(ParseInstall(in, kNow).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace b24::app
