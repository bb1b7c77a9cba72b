// Schema of the token table: the DDL per SQL dialect and the
// `bitrix24-service schema init|migrate|show` command.
//
// The table has two parts (docs/storage.md):
//   - the seed columns of the PHP package simple-api-bitrix24 (id, member_id,
//     access_token, expires_in, application_token, refresh_token, domain,
//     client_endpoint, client_id, client_secret; all VARCHAR(255) NOT NULL but
//     id), whose table and column names are configurable (StoreColumns), so an
//     existing table of that package works unchanged;
//   - optional extra columns with fixed names prefixed "b24_" (ExtraColumns()),
//     added only by `schema init` or `schema migrate`. The store works without
//     them, with the degradations listed in docs/storage.md.
// Every statement here is idempotent when run through RunSchemaCommand (it
// adds only what is missing); the printed DDL uses IF NOT EXISTS where the
// dialect has it.
//
// Thread-safety: the functions are pure, except RunSchemaCommand, which opens
// its own database connection.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/store_options.h"

namespace b24::storage {

// The SQL spoken by the database (for ODBC: the DBMS behind the driver).
enum class Dialect { kSqlite, kPostgresql, kMysql, kSqlServer };

// "sqlite"/"sqlite3", "postgresql"/"postgres", "mysql"/"mariadb",
// "sqlserver"/"mssql" → Dialect; anything else → INVALID_ARGUMENT.
absl::StatusOr<Dialect> ParseDialect(absl::string_view name);
// "sqlite", "postgresql", "mysql", "sqlserver".
absl::string_view DialectName(Dialect dialect);

// `name` quoted as an identifier ("x", `x`, [x]). `name` must match
// [A-Za-z0-9_]+ (StoreColumns guarantees it; callers check with IsIdentifier).
std::string QuoteIdentifier(Dialect dialect, absl::string_view name);
bool IsIdentifier(absl::string_view name);
// INVALID_ARGUMENT naming the offending store.* key unless every name in
// `columns` is an identifier.
absl::Status ValidateColumns(const StoreColumns& columns);

struct ExtraColumn {
  const char* name;  // fixed column name, e.g. "b24_expires_at"
  const char* type;  // portable SQL type with NOT NULL DEFAULT
  const char* what;  // what the store loses without it (for `schema show`)
};
// b24_expires_at, b24_server_endpoint, b24_needs_reinstall,
// b24_refresh_lease_owner, b24_refresh_lease_until, b24_updated_at, b24_key_id.
const std::vector<ExtraColumn>& ExtraColumns();

// CREATE TABLE IF NOT EXISTS with every seed and extra column.
std::vector<std::string> InitStatements(Dialect dialect, const StoreColumns& columns);
// ALTER TABLE ... ADD for each extra column not in `existing` (compared
// case-insensitively; empty = list them all), guarded by IF NOT EXISTS /
// COL_LENGTH where the dialect allows it (PostgreSQL, SQL Server).
std::vector<std::string> MigrateStatements(Dialect dialect, const StoreColumns& columns,
                                           const std::vector<std::string>& existing = {});

// `bitrix24-service schema init|migrate|show [--dialect=D] [--dry-run]`.
// `args` are the words after "schema" (a leading "schema" is skipped too);
// configuration flags (--key=value) among them are ignored, because `store`
// was configured from them (see SchemaConfigArgs).
//   init     creates the table if missing and adds missing extra columns;
//   migrate  adds missing extra columns to an existing table;
//   show     prints the dialect, which columns exist and which are missing.
// With --dialect no database is touched: the DDL for that dialect is printed.
// With --dry-run the statements that would run are printed, not executed.
// Returns the process exit code: 0 done, 1 database error, 2 usage error.
int RunSchemaCommand(const std::vector<std::string>& args, const StoreOptions& store, std::ostream& out,
                     std::ostream& err);

// `args` without the schema command's own words (schema, init|migrate|show,
// --dialect=..., --dry-run), i.e. what LoadConfig() should see. main.cc:
//   if (args[0] == "schema") { config = LoadConfig(SchemaConfigArgs(args), env);
//                              return RunSchemaCommand(args, config->store, cout, cerr); }
std::vector<std::string> SchemaConfigArgs(const std::vector<std::string>& args);

}  // namespace b24::storage
