#include "service/common/log.h"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/common/utf8.h"

namespace b24 {

bool ParseLogLevel(absl::string_view text, LogLevel* out) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "debug")
    *out = LogLevel::kDebug;
  else if (t == "info")
    *out = LogLevel::kInfo;
  else if (t == "warning" || t == "warn")
    *out = LogLevel::kWarning;
  else if (t == "error")
    *out = LogLevel::kError;
  else if (t == "off")
    *out = LogLevel::kOff;
  else
    return false;
  return true;
}

const char* LogLevelName(LogLevel level) {
  static constexpr const char* kNames[] = {"debug", "info", "warning", "error", "off"};
  return kNames[static_cast<int>(level)];
}

bool ParseLogFormat(absl::string_view text, LogFormat* out) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "text")
    *out = LogFormat::kText;
  else if (t == "json")
    *out = LogFormat::kJson;
  else
    return false;
  return true;
}

const char* LogFormatName(LogFormat format) { return format == LogFormat::kJson ? "json" : "text"; }

namespace {

// A JSON string literal of valid UTF-8 `s` (linear, no recursion).
void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppend(out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

std::string FormatLine(LogFormat format, LogLevel level, absl::string_view message) {
  static constexpr const char* kUpper[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  if (format == LogFormat::kText) return absl::StrCat(time, " ", kUpper[static_cast<int>(level)], " ", message);
  std::string line = absl::StrCat("{\"time\":\"", time, "\",\"level\":\"", LogLevelName(level), "\",\"message\":");
  AppendJsonString(IsValidUtf8(message) ? message : SanitizeUtf8(message), &line);
  line.push_back('}');
  return line;
}

spdlog::level::level_enum SpdLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarning:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      break;
  }
  return spdlog::level::off;
}

// Lines arrive formatted: the sinks print them as they are.
void UseLinePattern(spdlog::logger& logger) {
  logger.set_pattern("%v", spdlog::pattern_time_type::utc);
  logger.set_level(spdlog::level::trace);  // Logger::Enabled() decides
  // Every line is flushed, by the logging thread (asynchronous logger): a pipe
  // reader sees lines at once, and a crash loses at most the queue.
  logger.flush_on(spdlog::level::trace);
}

}  // namespace

Logger::Logger(std::ostream* out, LogLevel level, LogFormat format) : level_(level), format_(format) {
  logger_ = std::make_shared<spdlog::logger>("b24", std::make_shared<spdlog::sinks::ostream_sink_mt>(*out, true));
  UseLinePattern(*logger_);
}

Logger::Logger(std::shared_ptr<spdlog::logger> logger, std::shared_ptr<spdlog::details::thread_pool> pool,
               LogLevel level, LogFormat format)
    : pool_(std::move(pool)), logger_(std::move(logger)), level_(level), format_(format) {}

absl::StatusOr<std::unique_ptr<Logger>> Logger::Open(const LogOptions& options) {
  if (options.max_size <= 0 || options.max_files < 0 || options.queue_lines <= 0) {
    return absl::InvalidArgumentError("log.max_size and log.queue must be positive, log.max_files not negative");
  }
  spdlog::sink_ptr sink;
  try {
    if (options.file.empty()) {
      sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(options.file, static_cast<size_t>(options.max_size),
                                                                    static_cast<size_t>(options.max_files));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot open log.file ", options.file, ": ", e.what()));
  }
  // One thread of its own (not spdlog's global pool or registry).
  auto pool = std::make_shared<spdlog::details::thread_pool>(static_cast<size_t>(options.queue_lines), 1);
  auto logger = std::make_shared<spdlog::async_logger>("b24", std::move(sink), pool,
                                                       spdlog::async_overflow_policy::overrun_oldest);
  UseLinePattern(*logger);
  return std::unique_ptr<Logger>(new Logger(std::move(logger), std::move(pool), options.level, options.format));
}

Logger::~Logger() {
  if (!logger_) return;
  logger_->flush();
  logger_.reset();
  // The pool's destructor lets its thread write every queued line (and the
  // flush) before it joins: nothing logged before this point is lost.
  pool_.reset();
}

void Logger::Flush() {
  if (!logger_) return;
  logger_->flush();
  if (pool_) {
    // The async flush only queues a flush message: wait (bounded) until the queue is empty.
    for (int i = 0; i < 2000 && pool_->queue_size() > 0; ++i) absl::SleepFor(absl::Milliseconds(1));
  }
}

size_t Logger::dropped() const { return pool_ ? pool_->overrun_counter() : 0; }

void Logger::Log(LogLevel level, absl::string_view message) {
  if (!Enabled(level)) return;
  std::string line = FormatLine(format_, level, message);
  logger_->log(SpdLevel(level), spdlog::string_view_t(line.data(), line.size()));
}

namespace {

bool IsWordChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

// Names whose values are secrets (any case): the OAuth and webhook fields of
// PROTOCOL.md §1.2/§6/§7, and anything that says token or secret.
bool IsSecretName(absl::string_view name) {
  std::string n = absl::AsciiStrToLower(name);
  for (const char* exact : {"auth", "access_token", "refresh_token", "client_secret", "application_token", "auth_id",
                            "refresh_id", "password", "code"}) {
    if (n == exact) return true;
  }
  return absl::StrContains(n, "token") || absl::StrContains(n, "secret");
}

// Where an unquoted (form or query) value ends.
bool EndsFormValue(char c) {
  return c == '&' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' || absl::ascii_isspace(c);
}

bool EndsPathSegment(char c) { return c == '/' || c == '?' || EndsFormValue(c); }

// A quote at s[p]: 1 for ", 2 for \" (a quote inside a JSON string), else 0.
size_t QuoteAt(absl::string_view s, size_t p) {
  if (p < s.size() && s[p] == '"') return 1;
  if (p + 1 < s.size() && s[p] == '\\' && s[p + 1] == '"') return 2;
  return 0;
}

// After a secret key ending at `k` (past its closing quote): when `: "value"`
// follows, appends s[from, value start) and "***" to `out` and returns where
// the scan continues; npos when no value follows. A value that is followed by
// another `: "..."` was in truth a key of broken JSON (`"token":"token":"x"`):
// the next value is redacted too, so quote pairing cannot expose a secret.
size_t RedactJsonValues(absl::string_view s, size_t k, bool escaped, std::string* out, size_t from) {
  const size_t n = s.size();
  const size_t quote = escaped ? 2 : 1;
  bool any = false;
  for (;;) {
    size_t p = k;
    while (p < n && absl::ascii_isspace(s[p])) ++p;
    if (p >= n || s[p] != ':') break;
    ++p;
    while (p < n && absl::ascii_isspace(s[p])) ++p;
    if (QuoteAt(s, p) != quote) break;
    size_t v = p + quote;  // the value's first character
    size_t m = v;
    if (escaped) {
      while (m < n && QuoteAt(s, m) != 2) ++m;
    } else {
      while (m < n && s[m] != '"') m += s[m] == '\\' ? 2 : 1;
    }
    m = std::min(m, n);
    out->append(s.data() + from, v - from);
    out->append("***");
    any = true;
    if (m >= n) return n;
    // Keep the closing quote; look for another value glued on.
    out->append(s.data() + m, quote);
    from = k = m + quote;
  }
  return any ? k : std::string::npos;
}

// One linear pass: every character is looked at a bounded number of times, so
// hostile input of any length costs time proportional to its size and no
// stack (a regex engine that backtracks would recurse once per character).
std::string Redact(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    char c = s[i];
    if (IsWordChar(c) && (i == 0 || !IsWordChar(s[i - 1]))) {
      size_t j = i;
      while (j < n && IsWordChar(s[j])) ++j;
      absl::string_view word = s.substr(i, j - i);
      // "auth%5Bcode%5D=": the word after "%" starts with the "5B" of the escape.
      absl::string_view name = word;
      if (i > 0 && s[i - 1] == '%' && name.size() > 2 && (name[0] == '5') && (name[1] == 'B' || name[1] == 'b')) {
        name.remove_prefix(2);
      }
      if (IsSecretName(name)) {
        // JSON: "name" : "value" — the value runs to its closing quote, or to
        // the end. Also JSON inside a JSON string, where the quotes are \"
        // (placement options, app options): then the value runs to the next \".
        // The quote after the key decides the kind (a stray backslash before
        // it must not hide a secret).
        size_t key_quote = QuoteAt(s, j);
        bool quoted_before = i > 0 && s[i - 1] == '"';
        if (quoted_before && key_quote > 0) {
          size_t k = j + key_quote;
          size_t m = RedactJsonValues(s, k, /*escaped=*/key_quote == 2, &out, i);
          if (m != std::string::npos) {
            i = m;
            continue;
          }
        }
        // Form or query: name=value, name]=value, name%5D=value.
        size_t k = j;
        if (k < n && s[k] == ']') {
          ++k;
        } else if (k + 2 < n && s[k] == '%' && s[k + 1] == '5' && (s[k + 2] == 'D' || s[k + 2] == 'd')) {
          k += 3;
        }
        if (k < n && s[k] == '=') {
          size_t m = k + 1;
          while (m < n && !EndsFormValue(s[m])) ++m;
          out.append(s.data() + i, k + 1 - i);
          out.append("***");
          i = m;
          continue;
        }
      }
      out.append(word.data(), word.size());
      i = j;
      continue;
    }
    // Webhook URLs: /rest/<user_id>/<code>/... and /rest/api/<user_id>/<code>/...
    if (c == '/' && s.substr(i, 6) == "/rest/") {
      size_t a = i + 6;
      if (s.substr(a, 4) == "api/") a += 4;
      size_t b = a;
      while (b < n && !EndsPathSegment(s[b])) ++b;
      absl::string_view user = s.substr(a, b - a);
      bool numeric_user = !user.empty() && std::all_of(user.begin(), user.end(), absl::ascii_isdigit);
      if (b < n && s[b] == '/' && b > a) {
        size_t d = b + 1;
        while (d < n && !EndsPathSegment(s[d])) ++d;
        if (d > b + 1 && (numeric_user || (d < n && s[d] == '/'))) {
          out.append(s.data() + i, b + 1 - i);
          out.append("***");
          i = d;
          continue;
        }
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

}  // namespace

std::string RedactUrl(absl::string_view url) { return Redact(url); }

std::string RedactBody(absl::string_view body, size_t max_len) {
  // Only the part that is shown is scanned: a secret cut by the limit is
  // redacted up to the cut, and a 64 MiB answer costs no more than 2 KiB.
  if (body.size() <= max_len) return Redact(body);
  return absl::StrCat(Redact(body.substr(0, max_len)), "...(", body.size(), " bytes)");
}

}  // namespace b24
