#include "storage/token_sql.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace b24::storage::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> SeedColumns() {
  return {"id",     "member_id",       "access_token", "expires_in",   "application_token", "refresh_token",
          "domain", "client_endpoint", "client_id",    "client_secret"};
}

Layout Full(Dialect d) {
  std::vector<std::string> cols = SeedColumns();
  for (const ExtraColumn& c : ExtraColumns()) cols.push_back(c.name);
  return *ResolveLayout(d, StoreColumns(), cols);
}

TEST(ResolveLayoutTest, MatchesCaseInsensitivelyKeepingStoredSpelling) {
  StoreColumns c;
  c.member_id = "Portal_Member";
  std::vector<std::string> cols = SeedColumns();
  cols[1] = "portal_member";  // PostgreSQL folds unquoted names to lower case
  absl::StatusOr<Layout> layout = ResolveLayout(Dialect::kPostgresql, c, cols);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->column[kMemberId], "portal_member");
  EXPECT_FALSE(layout->has(kExpiresAt));
}

TEST(ResolveLayoutTest, MissingSeedColumnNamesItsConfigKey) {
  std::vector<std::string> cols = SeedColumns();
  cols.erase(cols.begin() + 9);
  absl::StatusOr<Layout> layout = ResolveLayout(Dialect::kSqlite, StoreColumns(), cols);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(layout.status().message(), HasSubstr("store.column.client_secret"));
}

TEST(TokenSqlTest, UpsertIsOneStatementPerDialect) {
  std::vector<std::pair<Field, Value>> values = {
      {kMemberId, std::string("m")}, {kAccessToken, std::string("a")}, {kExpiresAt, 5LL}};
  Statement pg = UpsertPortal(Full(Dialect::kPostgresql), values);
  EXPECT_EQ(pg.sql,
            "INSERT INTO \"b24_portals\" (\"member_id\", \"access_token\", \"b24_expires_at\") VALUES (:p1, :p2, :p3) "
            "ON CONFLICT (\"member_id\") DO UPDATE SET \"access_token\" = excluded.\"access_token\", "
            "\"b24_expires_at\" = excluded.\"b24_expires_at\"");
  EXPECT_EQ(pg.params.size(), 3u);
  EXPECT_THAT(UpsertPortal(Full(Dialect::kMysql), values).sql,
              HasSubstr("ON DUPLICATE KEY UPDATE `access_token` = VALUES(`access_token`), "
                        "`b24_expires_at` = VALUES(`b24_expires_at`)"));
  EXPECT_EQ(UpsertPortal(Full(Dialect::kSqlServer), values).sql,
            "MERGE INTO [b24_portals] WITH (HOLDLOCK) AS dst USING (SELECT :p1 AS [member_id], :p2 AS [access_token], "
            ":p3 AS [b24_expires_at]) AS src ON dst.[member_id] = src.[member_id] WHEN MATCHED THEN UPDATE SET "
            "[access_token] = src.[access_token], [b24_expires_at] = src.[b24_expires_at] WHEN NOT MATCHED THEN "
            "INSERT ([member_id], [access_token], [b24_expires_at]) VALUES (src.[member_id], src.[access_token], "
            "src.[b24_expires_at]);");
}

TEST(TokenSqlTest, CompareAndSwapComparesBytesExactly) {
  std::vector<std::pair<Field, Value>> sets = {{kRefreshToken, std::string("new")}};
  Statement pg = UpdatePortal(Full(Dialect::kPostgresql), sets, "m", {{kRefreshToken, "old"}});
  EXPECT_EQ(pg.sql,
            "UPDATE \"b24_portals\" SET \"refresh_token\" = :p1 WHERE \"member_id\" = :p2 AND "
            "\"refresh_token\" = :p3");
  EXPECT_THAT(pg.params, ElementsAre(Value("new"), Value("m"), Value("old")));
  EXPECT_THAT(UpdatePortal(Full(Dialect::kMysql), sets, "m", {{kRefreshToken, "old"}}).sql,
              HasSubstr("AND CAST(`refresh_token` AS BINARY) = :p3"));
  EXPECT_THAT(UpdatePortal(Full(Dialect::kSqlServer), sets, "m", {{kRefreshToken, "old"}}).sql,
              HasSubstr("AND [refresh_token] COLLATE Latin1_General_BIN2 = :p3"));
}

TEST(TokenSqlTest, LeaseConditionPlaceholdersFollowTextOrder) {
  Statement st = UpdatePortal(Full(Dialect::kSqlite), {{kLeaseOwner, std::string("me")}, {kLeaseUntil, 100LL}}, "m",
                              {{kRefreshToken, "cas"}}, LeaseCondition{"me", 40});
  EXPECT_EQ(st.sql,
            "UPDATE \"b24_portals\" SET \"b24_refresh_lease_owner\" = :p1, \"b24_refresh_lease_until\" = :p2 WHERE "
            "\"member_id\" = :p3 AND \"refresh_token\" = :p4 AND (\"b24_refresh_lease_owner\" = '' OR "
            "\"b24_refresh_lease_owner\" = :p5 OR \"b24_refresh_lease_until\" <= :p6)");
  EXPECT_THAT(st.params, ElementsAre(Value("me"), Value(100LL), Value("m"), Value("cas"), Value("me"), Value(40LL)));
}

TEST(TokenSqlTest, SelectListsPresentColumnsOnly) {
  Layout seed = *ResolveLayout(Dialect::kMysql, StoreColumns(), SeedColumns());
  std::vector<Field> fields;
  Statement one = SelectPortals(seed, "m", &fields);
  EXPECT_EQ(fields.size(), size_t{kSeedFieldCount});
  EXPECT_THAT(one.sql, HasSubstr("WHERE `member_id` = :p1"));
  EXPECT_THAT(one.sql, Not(HasSubstr("b24_expires_at")));
  Statement all = SelectPortals(Full(Dialect::kMysql), "", &fields);
  EXPECT_EQ(fields.size(), size_t{kFieldCount});
  EXPECT_THAT(all.sql, HasSubstr("ORDER BY `member_id`"));
  EXPECT_TRUE(all.params.empty());
}

}  // namespace
}  // namespace b24::storage::internal
