#include "service/common/log.h"

#include <gtest/gtest.h>

#include <sstream>

namespace b24 {
namespace {

TEST(LogTest, LevelsFilter) {
  std::ostringstream out;
  Logger log(&out, LogLevel::kWarning);
  log.Info("hidden");
  log.Warning("shown");
  EXPECT_EQ(out.str().find("hidden"), std::string::npos);
  EXPECT_NE(out.str().find("WARNING shown"), std::string::npos);
}

TEST(LogTest, RedactsWebhookCodesAndTokensInUrls) {
  EXPECT_EQ(RedactUrl("https://x.bitrix24.com/rest/1/abc123secret/crm.deal.get?auth=TOKEN&id=5"),
            "https://x.bitrix24.com/rest/1/***/crm.deal.get?auth=***&id=5");
}

TEST(LogTest, RedactsSecretsInBodies) {
  std::string json = R"({"access_token":"AT1","nested":{"refresh_token":"RT1"},"client_secret":"S","id":"5"})";
  std::string r = RedactBody(json);
  for (const char* secret : {"AT1", "RT1", "\"S\""}) EXPECT_EQ(r.find(secret), std::string::npos) << r;
  EXPECT_NE(r.find("\"id\":\"5\""), std::string::npos);
  std::string form = "auth%5Baccess_token%5D=AT2&auth[refresh_token]=RT2&AUTH_ID=AT3&member_id=m";
  r = RedactBody(form);
  for (const char* secret : {"AT2", "RT2", "AT3"}) EXPECT_EQ(r.find(secret), std::string::npos) << r;
  EXPECT_NE(r.find("member_id=m"), std::string::npos);
}

TEST(LogTest, TruncatesLongBodies) {
  std::string r = RedactBody(std::string(5000, 'a'), 100);
  EXPECT_LT(r.size(), 200u);
  EXPECT_NE(r.find("5000 bytes"), std::string::npos);
}

}  // namespace
}  // namespace b24
