// Logger: levelled, line-oriented logging with secrets redacted.
//
// Levels: DEBUG logs every upstream request and response (bodies redacted and
// truncated), INFO lifecycle events, WARNING errors returned to callers and
// retries, ERROR failures of the service itself. One Logger is made in main.cc
// and passed by reference; tests make their own writing to a string stream.
//
// Redaction: whatever reaches a log line or an error message goes through the
// Redact* helpers first: webhook codes in URLs, tokens and secrets in query
// strings, JSON bodies and form fields become "***".
//
// Thread-safety: Log() may be called from any thread; lines never interleave.
#pragma once

#include <ostream>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/string_view.h"

namespace b24 {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

// Parses "debug", "info", "warning"/"warn", "error", "off" (any case).
bool ParseLogLevel(absl::string_view text, LogLevel* out);
// "debug", "info", "warning", "error", "off".
const char* LogLevelName(LogLevel level);

class Logger {
 public:
  // Writes to `out` (not owned; must outlive the logger).
  explicit Logger(std::ostream* out, LogLevel level = LogLevel::kInfo) : out_(out), level_(level) {}

  bool Enabled(LogLevel level) const { return level >= level_ && level_ != LogLevel::kOff; }
  void Log(LogLevel level, absl::string_view message);
  void Debug(absl::string_view m) { Log(LogLevel::kDebug, m); }
  void Info(absl::string_view m) { Log(LogLevel::kInfo, m); }
  void Warning(absl::string_view m) { Log(LogLevel::kWarning, m); }
  void Error(absl::string_view m) { Log(LogLevel::kError, m); }

 private:
  absl::Mutex mu_;
  std::ostream* const out_ ABSL_PT_GUARDED_BY(mu_);
  LogLevel level_;
};

// "https://x.bitrix24.com/rest/1/abc123/crm.deal.get?auth=T" →
// "https://x.bitrix24.com/rest/1/***/crm.deal.get?auth=***".
std::string RedactUrl(absl::string_view url);
// Replaces values of secret keys (auth, access_token, refresh_token,
// client_secret, application_token, AUTH_ID, REFRESH_ID, password, ...) in a
// JSON or form-encoded text with "***"; truncates to `max_len` characters.
std::string RedactBody(absl::string_view body, size_t max_len = 2048);

}  // namespace b24
