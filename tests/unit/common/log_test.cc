#include "service/common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

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

// Converts to a string only when asked, and counts how often.
struct Counted {
  int* conversions;
  operator absl::AlphaNum() const {  // NOLINT: implicit, as absl::StrCat takes it
    ++*conversions;
    return absl::AlphaNum("formatted");
  }
};

TEST(LogTest, ArgumentsAreFormattedOnlyWhenTheLevelIsOn) {
  std::ostringstream out;
  Logger log(&out, LogLevel::kWarning);
  int conversions = 0;
  log.Debug("a ", Counted{&conversions}, " b");
  log.Info("x", Counted{&conversions});
  EXPECT_EQ(conversions, 0);
  EXPECT_EQ(out.str(), "");
  log.Warning("a ", Counted{&conversions}, " b ", 42);
  EXPECT_EQ(conversions, 1);
  EXPECT_NE(out.str().find("WARNING a formatted b 42"), std::string::npos) << out.str();
  Logger off(&out, LogLevel::kOff);
  off.Error(Counted{&conversions}, "x");
  EXPECT_EQ(conversions, 1);
}

TEST(LogTest, JsonLinesAreObjectsWithEscapedMessages) {
  std::ostringstream out;
  Logger log(&out, LogLevel::kDebug, LogFormat::kJson);
  log.Info("plain");
  log.Warning("quote \" backslash \\ newline \n tab \t ctl \x01 and bad utf-8 \xff\xfe end");
  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> parsed;
  while (std::getline(lines, line)) parsed.push_back(nlohmann::json::parse(line));  // throws on bad JSON
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0]["level"], "info");
  EXPECT_EQ(parsed[0]["message"], "plain");
  EXPECT_EQ(parsed[1]["level"], "warning");
  std::string m = parsed[1]["message"];
  EXPECT_NE(m.find("quote \" backslash \\ newline \n tab \t ctl \x01"), std::string::npos) << m;
  EXPECT_NE(m.find("\xEF\xBF\xBD"), std::string::npos) << m;  // U+FFFD for the ill-formed bytes
  EXPECT_EQ(std::string(parsed[0]["time"]).size(), std::string("2026-12-02T07:32:41.083Z").size());
}

std::string TempDir() {
  std::string dir = (std::filesystem::temp_directory_path() / ("b24-log-test-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(LogTest, AsyncRotatingFileKeepsEveryLineAcrossFiles) {
  std::string dir = TempDir();
  LogOptions options;
  options.level = LogLevel::kDebug;
  options.format = LogFormat::kJson;
  options.file = dir + "/service.log";
  options.max_size = 4096;
  options.max_files = 50;
  options.queue_lines = 100000;
  {
    auto log = Logger::Open(options);
    ASSERT_TRUE(log.ok()) << log.status();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 250; ++i) (*log)->Info("thread ", t, " line ", i, " ", std::string(40, 'x'));
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ((*log)->dropped(), 0u);
  }  // the destructor writes out the queue
  std::set<std::string> seen;
  int files = 0;
  size_t lines = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_LE(std::filesystem::file_size(entry.path()), 4096u + 200);
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      ++lines;
      seen.insert(nlohmann::json::parse(line)["message"].get<std::string>());
    }
  }
  EXPECT_GT(files, 5);
  EXPECT_EQ(lines, 1000u);  // no line lost or duplicated across the rotations
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 250; ++i) {
      std::string want = "thread " + std::to_string(t) + " line " + std::to_string(i) + " " + std::string(40, 'x');
      EXPECT_EQ(seen.count(want), 1u) << want;
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(LogTest, AFileThatCannotBeOpenedIsAClearError) {
  LogOptions options;
  options.file = "/dev/null/service.log";
  auto log = Logger::Open(options);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("cannot open log.file /dev/null/service.log"), std::string::npos)
      << log.status();
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
