// Logger: levelled, line-oriented logging with secrets redacted, on spdlog.
//
// Levels: DEBUG logs every upstream request and response (bodies redacted and
// truncated), INFO lifecycle events, WARNING errors returned to callers (and
// Bitrix24's own errors), ERROR failures of the service itself. The recommended level in
// production is WARNING. One Logger is made in main.cc (Logger::Open, from
// LogOptions) and passed by reference; tests make their own writing to a
// string stream.
//
// Output: text lines ("2026-12-02T07:32:41.083Z WARNING message") or JSON
// lines ({"time": ..., "level": "warning", "message": ...}) to stdout, or to a
// rotating file. Open() makes the logger asynchronous: lines go through a
// bounded queue to a thread of its own, so a slow disk or pipe never stalls the
// thread that logs; when the queue is full the oldest lines are dropped (and
// counted, see dropped()), never the caller blocked. The instance is spdlog's,
// kept out of spdlog's global registry.
//
// Formatting is skipped when a level is off: Debug(a, b, c) concatenates its
// arguments (absl::StrCat) only when DEBUG is enabled.
//
// Redaction: whatever reaches a log line or an error message goes through the
// Redact* helpers first: webhook codes in URLs, tokens and secrets in query
// strings, JSON bodies and form fields become "***". Every sink gets the same
// redacted line.
//
// Thread-safety: Log() may be called from any thread; lines never interleave.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace spdlog {
class logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace b24 {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

// Parses "debug", "info", "warning"/"warn", "error", "off" (any case).
bool ParseLogLevel(absl::string_view text, LogLevel* out);
// "debug", "info", "warning", "error", "off".
const char* LogLevelName(LogLevel level);

enum class LogFormat { kText, kJson };
// "text" or "json" (any case).
bool ParseLogFormat(absl::string_view text, LogFormat* out);
const char* LogFormatName(LogFormat format);

// log.* settings; each default is written here once.
struct LogOptions {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  // A file to write to instead of stdout, rotated at max_size bytes keeping
  // max_files old files (file.1 is the newest); "" = stdout.
  std::string file;
  int64_t max_size = 100 << 20;
  int max_files = 5;
  // Lines waiting for the logging thread; past this the oldest are dropped.
  int queue_lines = 8192;
};

class Logger {
 public:
  // Synchronous, text lines to `out` (not owned; must outlive the logger): for tests.
  explicit Logger(std::ostream* out, LogLevel level = LogLevel::kInfo, LogFormat format = LogFormat::kText);
  // The service's logger: asynchronous, to stdout or the rotating file.
  // INVALID_ARGUMENT when the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<Logger>> Open(const LogOptions& options);
  ~Logger();  // flushes
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool Enabled(LogLevel level) const { return level >= level_ && level_ != LogLevel::kOff; }
  void Log(LogLevel level, absl::string_view message);
  template <typename... A>
  void Debug(const A&... a) {
    LogIf(LogLevel::kDebug, a...);
  }
  template <typename... A>
  void Info(const A&... a) {
    LogIf(LogLevel::kInfo, a...);
  }
  template <typename... A>
  void Warning(const A&... a) {
    LogIf(LogLevel::kWarning, a...);
  }
  template <typename... A>
  void Error(const A&... a) {
    LogIf(LogLevel::kError, a...);
  }
  // Writes out what is queued; the asynchronous logger waits up to 2 s for its
  // queue to empty. The destructor writes out everything.
  void Flush();
  // Lines dropped because the queue was full (asynchronous logger only).
  size_t dropped() const;
  LogFormat format() const { return format_; }

 private:
  Logger(std::shared_ptr<spdlog::logger> logger, std::shared_ptr<spdlog::details::thread_pool> pool, LogLevel level,
         LogFormat format);
  template <typename... A>
  void LogIf(LogLevel level, const A&... a) {
    if (!Enabled(level)) return;
    if constexpr (sizeof...(A) == 1) {
      Log(level, absl::string_view(a...));
    } else {
      Log(level, absl::StrCat(a...));
    }
  }

  std::shared_ptr<spdlog::details::thread_pool> pool_;  // the async logger's thread; null when synchronous
  std::shared_ptr<spdlog::logger> logger_;
  const LogLevel level_;
  const LogFormat format_;
};

// "https://x.bitrix24.com/rest/1/abc123/crm.deal.get?auth=T" →
// "https://x.bitrix24.com/rest/1/***/crm.deal.get?auth=***".
std::string RedactUrl(absl::string_view url);
// Replaces values of secret keys (auth, access_token, refresh_token,
// client_secret, application_token, AUTH_ID, REFRESH_ID, password, ...) in a
// JSON or form-encoded text with "***"; truncates to `max_len` characters.
std::string RedactBody(absl::string_view body, size_t max_len = 2048);

}  // namespace b24
