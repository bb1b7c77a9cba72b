#include "storage/soci_support.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace b24::storage::internal {
namespace {

bool IsKeyBoundary(absl::string_view s, size_t pos) {
  return pos == 0 || s[pos - 1] == ' ' || s[pos - 1] == ';' || s[pos - 1] == '/' || s[pos - 1] == '\t';
}

// Replaces password values in `s`; collects them into `secrets`.
std::string Redact(absl::string_view s, std::vector<std::string>* secrets) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t key_end = 0;
    for (absl::string_view key : {"password", "pwd", "pass"}) {
      if (IsKeyBoundary(s, i) && absl::StartsWithIgnoreCase(s.substr(i), key)) {
        size_t j = i + key.size();
        while (j < s.size() && s[j] == ' ') ++j;
        if (j < s.size() && s[j] == '=') {
          key_end = j + 1;
          break;
        }
      }
    }
    if (key_end == 0) {
      out.push_back(s[i++]);
      continue;
    }
    absl::StrAppend(&out, s.substr(i, key_end - i));
    size_t v = key_end, end;
    while (v < s.size() && s[v] == ' ') out.push_back(s[v++]);
    bool wrapped = v < s.size() && (s[v] == '{' || s[v] == '\'' || s[v] == '"');
    if (wrapped) {
      char close = s[v] == '{' ? '}' : s[v];
      end = s.find(close, v + 1);
      end = end == absl::string_view::npos ? s.size() : end + 1;
    } else {
      end = v;
      while (end < s.size() && s[end] != ';' && s[end] != ' ' && s[end] != '\t') ++end;
    }
    if (secrets && end > v) {
      secrets->emplace_back(s.substr(v, end - v));
      if (wrapped && end - v > 2) secrets->emplace_back(s.substr(v + 1, end - v - 2));  // unwrapped
    }
    out.append("***");
    i = end;
  }
  // URI userinfo: scheme://user:password@host
  for (size_t p = out.find("://"); p != std::string::npos; p = out.find("://", p + 3)) {
    size_t at = out.find('@', p + 3), stop = out.find_first_of("/ ;", p + 3);
    if (at == std::string::npos || (stop != std::string::npos && stop < at)) continue;
    size_t colon = out.find(':', p + 3);
    if (colon == std::string::npos || colon > at) continue;
    if (secrets) secrets->push_back(out.substr(colon + 1, at - colon - 1));
    out.replace(colon + 1, at - colon - 1, "***");
  }
  return out;
}

std::string Scrub(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& s : secrets) {
    if (s.size() >= 3) absl::StrReplaceAll({{s, "***"}}, &text);
  }
  absl::StripTrailingAsciiWhitespace(&text);
  absl::StrReplaceAll({{"\n\t", " "}, {"\n", " "}}, &text);
  return text;
}

void BindParams(soci::statement& st, const Statement& s) {
  for (const Value& v : s.params) {
    std::visit([&](const auto& x) { st.exchange(soci::use(x)); }, v);
  }
}

}  // namespace

std::string BackendOf(absl::string_view connection) {
  size_t p = connection.find("://");
  return p == absl::string_view::npos ? "" : absl::AsciiStrToLower(connection.substr(0, p));
}

std::string RedactConnection(absl::string_view connection) { return Redact(connection, nullptr); }

std::vector<std::string> ConnectionSecrets(absl::string_view connection) {
  std::vector<std::string> secrets;
  Redact(connection, &secrets);
  return secrets;
}

std::string EffectiveConnection(absl::string_view connection) {
  std::string c(connection);
  if (BackendOf(c) == "sqlite3" && !absl::StrContains(c, "timeout=")) absl::StrAppend(&c, " timeout=30");
  return c;
}

absl::Status Connect(soci::session& session, const std::string& connection) {
  try {
    session.open(EffectiveConnection(connection));
    return absl::OkStatus();
  } catch (const std::exception& e) {
    std::vector<std::string> secrets;
    std::string shown = Redact(connection, &secrets);
    std::string message = e.what();
    if (const auto* se = dynamic_cast<const soci::soci_error*>(&e)) message = se->get_error_message();
    return absl::UnavailableError(
        absl::StrCat("cannot connect to the token store ", shown, ": ", Scrub(message, secrets)));
  }
}

absl::StatusOr<Dialect> DetectDialect(soci::session& session) {
  std::string backend = session.get_backend_name();
  if (backend == "sqlite3") return Dialect::kSqlite;
  if (backend == "postgresql") return Dialect::kPostgresql;
  if (backend == "mysql") return Dialect::kMysql;
  if (backend != "odbc") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported SOCI backend '", backend, "' (use sqlite3, postgresql, mysql or odbc)"));
  }
  auto ask = [&](const char* sql) {
    std::string v;
    soci::indicator ind;
    try {
      session << sql, soci::into(v, ind);
    } catch (const std::exception&) {
      return std::string();
    }
    return ind == soci::i_ok ? v : std::string();
  };
  std::string v = ask("SELECT version()");
  if (absl::StrContains(v, "PostgreSQL")) return Dialect::kPostgresql;
  if (!v.empty() && (absl::StrContains(absl::AsciiStrToLower(v), "mariadb") || absl::ascii_isdigit(v[0]))) {
    return Dialect::kMysql;  // MySQL answers "8.0.36", MariaDB "10.11.6-MariaDB"
  }
  if (absl::StrContains(ask("SELECT @@VERSION"), "SQL Server")) return Dialect::kSqlServer;
  if (!ask("SELECT sqlite_version()").empty()) return Dialect::kSqlite;
  return absl::InvalidArgumentError(
      "cannot tell which database the ODBC data source is (asked version() and @@VERSION); "
      "supported: PostgreSQL, MySQL/MariaDB, SQL Server, SQLite");
}

std::vector<std::string> TableColumns(soci::session& session, Dialect dialect, const std::string& table) {
  soci::row row;
  soci::statement st = (session.prepare << ProbeColumns(dialect, table), soci::into(row));
  st.execute(true);
  std::vector<std::string> names;
  for (size_t i = 0; i < row.size(); ++i) names.push_back(row.get_properties(i).get_name());
  return names;
}

long long Execute(soci::session& session, const Statement& s) {
  soci::statement st(session);
  BindParams(st, s);
  st.alloc();
  st.prepare(s.sql);
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

std::vector<std::vector<std::string>> Query(soci::session& session, const Statement& s, size_t width) {
  std::vector<std::string> values(width);
  std::vector<soci::indicator> inds(width);
  soci::statement st(session);
  for (size_t i = 0; i < width; ++i) st.exchange(soci::into(values[i], inds[i]));
  BindParams(st, s);
  st.alloc();
  st.prepare(s.sql);
  st.define_and_bind();
  std::vector<std::vector<std::string>> rows;
  for (bool got = st.execute(true); got; got = st.fetch()) {
    std::vector<std::string>& row = rows.emplace_back(width);
    for (size_t i = 0; i < width; ++i) {
      if (inds[i] == soci::i_ok) row[i] = values[i];
    }
  }
  return rows;
}

absl::Status StatusFromException(const std::exception& e, bool connection_lost, absl::string_view context,
                                 const std::vector<std::string>& secrets) {
  std::string message = e.what();
  bool unavailable = connection_lost;
  if (const auto* se = dynamic_cast<const soci::soci_error*>(&e)) {
    message = se->get_error_message();
    unavailable = unavailable || se->get_error_category() == soci::soci_error::connection_error;
  }
  unavailable = unavailable || absl::StrContains(message, "SQL state 08");
  message = absl::StrCat(context, ": ", Scrub(message, secrets));
  return unavailable ? absl::UnavailableError(message) : absl::InternalError(message);
}

}  // namespace b24::storage::internal
