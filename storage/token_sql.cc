#include "storage/token_sql.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace b24::storage::internal {
namespace {

constexpr const char* kConfigKeys[kSeedFieldCount] = {
    "store.column.member_id",         "store.column.access_token",  "store.column.expires_in",
    "store.column.application_token", "store.column.refresh_token", "store.column.domain",
    "store.column.client_endpoint",   "store.column.client_id",     "store.column.client_secret"};

class Builder {
 public:
  explicit Builder(const Layout& layout) : layout_(layout) {}
  std::string Col(Field f) const { return QuoteIdentifier(layout_.dialect, layout_.column[f]); }
  std::string Table() const { return QuoteIdentifier(layout_.dialect, layout_.table); }
  // (Overloads rather than one Bind(Value): GCC 12 warns falsely about a
  // temporary std::variant holding a string.)
  std::string Bind(const Value& v) {
    st_.params.push_back(v);
    return Mark();
  }
  std::string Bind(const std::string& v) {
    st_.params.emplace_back(std::in_place_type<std::string>, v);
    return Mark();
  }
  std::string Bind(long long v) {
    st_.params.emplace_back(std::in_place_type<long long>, v);
    return Mark();
  }
  // Byte-exact comparison: MySQL and SQL Server compare case-insensitively
  // and ignore trailing spaces under their default collations.
  std::string Exact(Field f, const std::string& value) {
    std::string p = Bind(value);
    switch (layout_.dialect) {
      case Dialect::kMysql:
        return absl::StrCat("CAST(", Col(f), " AS BINARY) = ", p);
      case Dialect::kSqlServer:
        return absl::StrCat(Col(f), " COLLATE Latin1_General_BIN2 = ", p);
      default:
        return absl::StrCat(Col(f), " = ", p);
    }
  }
  std::string Mark() const { return absl::StrCat(":p", st_.params.size()); }
  Statement Done(std::string sql) {
    st_.sql = std::move(sql);
    return std::move(st_);
  }

 private:
  const Layout& layout_;
  Statement st_;
};

}  // namespace

std::string ConfiguredName(const StoreColumns& c, Field field) {
  switch (field) {
    case kMemberId:
      return c.member_id;
    case kAccessToken:
      return c.access_token;
    case kExpiresIn:
      return c.expires_in;
    case kApplicationToken:
      return c.application_token;
    case kRefreshToken:
      return c.refresh_token;
    case kDomain:
      return c.domain;
    case kClientEndpoint:
      return c.client_endpoint;
    case kClientId:
      return c.client_id;
    case kClientSecret:
      return c.client_secret;
    default:
      return ExtraColumns()[field - kSeedFieldCount].name;
  }
}

absl::StatusOr<Layout> ResolveLayout(Dialect dialect, const StoreColumns& columns,
                                     const std::vector<std::string>& table_columns) {
  Layout layout;
  layout.dialect = dialect;
  layout.table = columns.table;
  for (int f = 0; f < kFieldCount; ++f) {
    std::string want = ConfiguredName(columns, Field(f));
    for (const std::string& have : table_columns) {
      if (absl::EqualsIgnoreCase(have, want)) layout.column[f] = have;
    }
    if (f < kSeedFieldCount && layout.column[f].empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("table ", columns.table, " has no column '", want, "' (set ", kConfigKeys[f],
                       " to the column's name, or create the table with `bitrix24-service schema init`)"));
    }
  }
  return layout;
}

Statement SelectPortals(const Layout& layout, const std::string& member_id, std::vector<Field>* fields) {
  Builder b(layout);
  fields->clear();
  std::vector<std::string> cols;
  for (int f = 0; f < kFieldCount; ++f) {
    if (!layout.has(Field(f))) continue;
    fields->push_back(Field(f));
    cols.push_back(b.Col(Field(f)));
  }
  std::string sql = absl::StrCat("SELECT ", absl::StrJoin(cols, ", "), " FROM ", b.Table());
  if (!member_id.empty()) {
    absl::StrAppend(&sql, " WHERE ", b.Col(kMemberId), " = ", b.Bind(member_id));
  } else {
    absl::StrAppend(&sql, " ORDER BY ", b.Col(kMemberId));
  }
  return b.Done(std::move(sql));
}

Statement UpsertPortal(const Layout& layout, const std::vector<std::pair<Field, Value>>& values) {
  Builder b(layout);
  std::vector<std::string> cols, marks, updates;
  for (const auto& [f, v] : values) {
    cols.push_back(b.Col(f));
    marks.push_back(b.Bind(v));
  }
  auto updated = [&](auto fn) {
    std::vector<std::string> out;
    for (size_t i = 1; i < cols.size(); ++i) out.push_back(fn(cols[i]));
    return absl::StrJoin(out, ", ");
  };
  std::string insert = absl::StrCat("INSERT INTO ", b.Table(), " (", absl::StrJoin(cols, ", "), ") VALUES (",
                                    absl::StrJoin(marks, ", "), ")");
  switch (layout.dialect) {
    case Dialect::kSqlite:
    case Dialect::kPostgresql:
      return b.Done(absl::StrCat(insert, " ON CONFLICT (", cols[0], ") DO UPDATE SET ",
                                 updated([](const std::string& c) { return absl::StrCat(c, " = excluded.", c); })));
    case Dialect::kMysql:
      return b.Done(absl::StrCat(insert, " ON DUPLICATE KEY UPDATE ",
                                 updated([](const std::string& c) { return absl::StrCat(c, " = VALUES(", c, ")"); })));
    case Dialect::kSqlServer: {
      // HOLDLOCK makes MERGE's "not matched → insert" atomic against a
      // concurrent insert of the same member_id.
      std::vector<std::string> src, src_cols;
      for (size_t i = 0; i < cols.size(); ++i) {
        src.push_back(absl::StrCat(marks[i], " AS ", cols[i]));
        src_cols.push_back(absl::StrCat("src.", cols[i]));
      }
      return b.Done(absl::StrCat("MERGE INTO ", b.Table(), " WITH (HOLDLOCK) AS dst USING (SELECT ",
                                 absl::StrJoin(src, ", "), ") AS src ON dst.", cols[0], " = src.", cols[0],
                                 " WHEN MATCHED THEN UPDATE SET ",
                                 updated([](const std::string& c) { return absl::StrCat(c, " = src.", c); }),
                                 " WHEN NOT MATCHED THEN INSERT (", absl::StrJoin(cols, ", "), ") VALUES (",
                                 absl::StrJoin(src_cols, ", "), ");"));
    }
  }
  return b.Done(insert);
}

Statement UpdatePortal(const Layout& layout, const std::vector<std::pair<Field, Value>>& sets,
                       const std::string& member_id, const std::vector<std::pair<Field, std::string>>& exact,
                       const std::optional<LeaseCondition>& lease) {
  Builder b(layout);
  std::vector<std::string> assignments;
  for (const auto& [f, v] : sets) assignments.push_back(absl::StrCat(b.Col(f), " = ", b.Bind(v)));
  std::string sql = absl::StrCat("UPDATE ", b.Table(), " SET ", absl::StrJoin(assignments, ", "), " WHERE ",
                                 b.Col(kMemberId), " = ", b.Bind(member_id));
  for (const auto& [f, v] : exact) absl::StrAppend(&sql, " AND ", b.Exact(f, v));
  if (lease) {
    std::string own = b.Exact(kLeaseOwner, lease->owner);
    absl::StrAppend(&sql, " AND (", b.Col(kLeaseOwner), " = '' OR ", own, " OR ", b.Col(kLeaseUntil),
                    " <= ", b.Bind(lease->now), ")");
  }
  return b.Done(std::move(sql));
}

Statement DeletePortal(const Layout& layout, const std::string& member_id) {
  Builder b(layout);
  std::string sql = absl::StrCat("DELETE FROM ", b.Table(), " WHERE ", b.Col(kMemberId), " = ");
  absl::StrAppend(&sql, b.Bind(member_id));
  return b.Done(std::move(sql));
}

std::string ProbeColumns(Dialect dialect, const std::string& table) {
  return absl::StrCat("SELECT * FROM ", QuoteIdentifier(dialect, table), " WHERE 1=0");
}

}  // namespace b24::storage::internal
