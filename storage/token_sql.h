// Internal to b24::storage: the token table's layout as found in the database
// and the DML the SOCI store runs on it, per dialect. Pure string building,
// so every dialect's SQL (SQL Server's included, which no test database
// here speaks) is checked by unit tests.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/store_options.h"
#include "storage/schema.h"

namespace b24::storage::internal {

// Columns the store knows. The first kSeedFieldCount are the seed columns
// (names configurable, all required); the rest are the optional b24_ extras
// in ExtraColumns() order.
enum Field : int {
  kMemberId,
  kAccessToken,
  kExpiresIn,
  kApplicationToken,
  kRefreshToken,
  kDomain,
  kClientEndpoint,
  kClientId,
  kClientSecret,
  kExpiresAt,
  kServerEndpoint,
  kNeedsReinstall,
  kLeaseOwner,
  kLeaseUntil,
  kUpdatedAt,
  kKeyId,
  kFieldCount
};
inline constexpr int kSeedFieldCount = kExpiresAt;

// The configured (seed) or fixed (extra) column name of `field`.
std::string ConfiguredName(const StoreColumns& columns, Field field);

struct Layout {
  Dialect dialect = Dialect::kSqlite;
  std::string table;                            // as configured
  std::array<std::string, kFieldCount> column;  // as stored; "" = absent
  bool has(Field f) const { return !column[f].empty(); }
};

// Matches the configured names against the table's real columns
// (case-insensitively, keeping the stored spelling). FAILED_PRECONDITION
// naming the column and its store.column.* key when a seed column is missing.
absl::StatusOr<Layout> ResolveLayout(Dialect dialect, const StoreColumns& columns,
                                     const std::vector<std::string>& table_columns);

using Value = std::variant<std::string, long long>;
struct Statement {
  std::string sql;  // placeholders :p1, :p2, ... in `params` order
  std::vector<Value> params;
};

// SELECT of every present field (in Field order) of one portal, or of all
// portals ordered by member_id when `member_id` is empty.
Statement SelectPortals(const Layout& layout, const std::string& member_id, std::vector<Field>* fields);
// One-statement insert-or-replace keyed by member_id. `values` must start
// with kMemberId and name only present fields.
Statement UpsertPortal(const Layout& layout, const std::vector<std::pair<Field, Value>>& values);
// UPDATE ... SET `sets` WHERE member_id = ? AND each `exact` field equals its
// value byte for byte (case- and trailing-space-sensitive on every dialect)
// [AND the refresh lease is free for `lease_owner` at `lease_now`].
struct LeaseCondition {
  std::string owner;
  long long now = 0;
};
Statement UpdatePortal(const Layout& layout, const std::vector<std::pair<Field, Value>>& sets,
                       const std::string& member_id, const std::vector<std::pair<Field, std::string>>& exact,
                       const std::optional<LeaseCondition>& lease = std::nullopt);
Statement DeletePortal(const Layout& layout, const std::string& member_id);
// SELECT * FROM table WHERE 1=0: the column names without reading rows.
std::string ProbeColumns(Dialect dialect, const std::string& table);

}  // namespace b24::storage::internal
