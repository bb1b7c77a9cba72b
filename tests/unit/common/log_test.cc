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

TEST(LogTest, AnUnterminatedSecretIsRedactedToTheEndHoweverLong) {
  // A non-JSON 502 page with a secret-looking key and 200,000 characters after it:
  // std::regex recursed once per character here and crashed the process.
  std::string page = "<html>\"access_token\":\"" + std::string(200'000, 'A');
  std::string r = RedactBody(page, page.size() + 10);
  EXPECT_EQ(r, "<html>\"access_token\":\"***");
  std::string shown = RedactBody(page);  // default: the first 2 KiB, redacted
  EXPECT_EQ(shown.find("AAAA"), std::string::npos) << shown.substr(0, 100);
  EXPECT_NE(shown.find("bytes)"), std::string::npos);
  std::string form = "auth[access_token]=" + std::string(1 << 20, 'B');
  EXPECT_EQ(RedactBody(form, form.size()), "auth[access_token]=***");
}

TEST(LogTest, RedactionTable) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {R"({"AUTH_ID": "x1", "member_id": "m"})", R"({"AUTH_ID": "***", "member_id": "m"})"},
      {R"({"refresh_token" : "a\"b", "n": 1})", R"({"refresh_token" : "***", "n": 1})"},
      {R"({"my_secret_value":"s"})", R"({"my_secret_value":"***"})"},
      {R"({"access_token": null})", R"({"access_token": null})"},
      {"grant_type=refresh_token&client_secret=S&code=C&x=1",
       "grant_type=refresh_token&client_secret=***&code=***&x=1"},
      {"auth%5Bcode%5D=C&auth%5Bdomain%5D=d", "auth%5Bcode%5D=***&auth%5Bdomain%5D=d"},
      {"https://x/rest/7/c0de/tasks.task.get", "https://x/rest/7/***/tasks.task.get"},
      {"https://x/rest/7/c0de", "https://x/rest/7/***"},
      {"https://x/rest/api/7/c0de/tasks.task.get", "https://x/rest/api/7/***/tasks.task.get"},
      {"https://x/rest/crm.deal.get?auth=T#f", "https://x/rest/crm.deal.get?auth=***#f"},
      {"no secrets here: token_count is a word", "no secrets here: token_count is a word"},
      // Found by redact_fuzz: JSON inside a JSON string, and broken JSON whose quotes pair up differently.
      {R"({"PLACEMENT_OPTIONS":"{\"access_token\":\"SECRETtoken12345\",\"x\":1}"})",
       R"({"PLACEMENT_OPTIONS":"{\"access_token\":\"***\",\"x\":1}"})"},
      {R"(<html>"access_token":"access_token":"SECRET12345)", R"(<html>"access_token":"***":"***)"},
      {R"("password":"\"access_token":"SECRET12345")", R"("password":"***":"***")"},
  };
  for (const Case& c : cases) EXPECT_EQ(RedactBody(c.in, 10000), c.out) << c.in;
}

}  // namespace
}  // namespace b24
