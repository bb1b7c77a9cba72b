#include "service/common/log.h"

#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace b24 {

bool ParseLogLevel(absl::string_view text, LogLevel* out) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "debug") *out = LogLevel::kDebug;
  else if (t == "info") *out = LogLevel::kInfo;
  else if (t == "warning" || t == "warn") *out = LogLevel::kWarning;
  else if (t == "error") *out = LogLevel::kError;
  else if (t == "off") *out = LogLevel::kOff;
  else return false;
  return true;
}

void Logger::Log(LogLevel level, absl::string_view message) {
  if (!Enabled(level)) return;
  static constexpr const char* kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  std::string line = absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                                  " ", kNames[static_cast<int>(level)], " ", message, "\n");
  std::lock_guard<std::mutex> lock(mu_);
  *out_ << line << std::flush;
}

namespace {
const std::string kSecretNames =
    "auth|access_token|refresh_token|client_secret|application_token|AUTH_ID|REFRESH_ID|password|"
    "APPLICATION_TOKEN|code|[a-zA-Z_]*token[a-zA-Z_]*|[a-zA-Z_]*secret[a-zA-Z_]*";
}  // namespace

std::string RedactUrl(absl::string_view url) {
  static const std::regex webhook(R"((/rest/[^/?#]+/)([^/?#]+)(/))");
  static const std::regex query("([?&](?:" + kSecretNames + ")=)[^&#]*", std::regex::icase);
  std::string s = std::regex_replace(std::string(url), webhook, "$1***$3");
  return std::regex_replace(s, query, "$1***");
}

std::string RedactBody(absl::string_view body, size_t max_len) {
  // JSON: "key":"value" (string values only; tokens are strings). Form: key=value, auth[key]=value.
  static const std::regex json("(\"(?:" + kSecretNames + ")\"\\s*:\\s*\")(?:[^\"\\\\]|\\\\.)*\"", std::regex::icase);
  static const std::regex form("((?:^|&)(?:[a-zA-Z_]*(?:%5B|\\[))?(?:" + kSecretNames +
                                   ")(?:%5D|\\])?=)[^&]*",
                               std::regex::icase);
  std::string s = std::regex_replace(std::string(body), json, "$1***\"");
  s = std::regex_replace(s, form, "$1***");
  s = RedactUrl(s);
  if (s.size() > max_len) s = absl::StrCat(s.substr(0, max_len), "...(", s.size(), " bytes)");
  return s;
}

}  // namespace b24
