// Internal to b24::storage: what the SOCI store and the schema command share —
// connecting, finding the dialect, reading a table's columns, running a
// Statement, and turning SOCI exceptions into absl::Status without secrets.
// Functions taking a soci::session throw soci::soci_error; callers catch.
#pragma once

#include <exception>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "soci/soci.h"
#include "storage/schema.h"
#include "storage/token_sql.h"

namespace b24::storage::internal {

// The SOCI backend named by a connection string ("sqlite3", "postgresql",
// "mysql", "odbc", ...): the part before "://".
std::string BackendOf(absl::string_view connection);
// `connection` with password values (password=, pwd=, pass=, user:pw@) as ***.
std::string RedactConnection(absl::string_view connection);
// The password values RedactConnection hides, to scrub them from messages.
std::vector<std::string> ConnectionSecrets(absl::string_view connection);
// The connection string SOCI gets: SQLite gains a busy timeout so pooled
// connections wait for each other's writes instead of failing.
std::string EffectiveConnection(absl::string_view connection);

// Opens `session`; UNAVAILABLE naming the redacted connection string.
absl::Status Connect(soci::session& session, const std::string& connection);
// The dialect of an open session; for ODBC asks the DBMS (version(), then
// @@VERSION). INVALID_ARGUMENT for a backend or DBMS we do not speak.
absl::StatusOr<Dialect> DetectDialect(soci::session& session);
// Column names of `table` as stored. Throws when the table cannot be read.
std::vector<std::string> TableColumns(soci::session& session, Dialect dialect, const std::string& table);

// Runs `st`; returns the number of affected rows.
long long Execute(soci::session& session, const Statement& st);
// Runs a SELECT of `width` columns; each row's values as text ("" for NULL).
std::vector<std::vector<std::string>> Query(soci::session& session, const Statement& st, size_t width);

// UNAVAILABLE when the connection is gone (`connection_lost`, SOCI's
// connection_error category, or SQLSTATE class 08), INTERNAL otherwise.
// The message is "<context>: <database message>" with every non-empty
// string of `secrets` replaced by *** (SOCI's what() lists bound values,
// so only the bare database message is used).
absl::Status StatusFromException(const std::exception& e, bool connection_lost, absl::string_view context,
                                 const std::vector<std::string>& secrets = {});

}  // namespace b24::storage::internal
