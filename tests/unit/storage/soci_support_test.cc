#include "storage/soci_support.h"

#include <stdexcept>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace b24::storage::internal {
namespace {

TEST(SociSupportTest, RedactsPasswordsInEveryConnectionStringStyle) {
  EXPECT_EQ(RedactConnection("mysql://host=h db=d user=u password=s3cret port=1"),
            "mysql://host=h db=d user=u password=*** port=1");
  EXPECT_EQ(RedactConnection("postgresql://host=h password='a b' dbname=d"),
            "postgresql://host=h password=*** dbname=d");
  EXPECT_EQ(RedactConnection("odbc://DRIVER={PostgreSQL Unicode};SERVER=h;UID=u;PWD={x;y};DATABASE=d"),
            "odbc://DRIVER={PostgreSQL Unicode};SERVER=h;UID=u;PWD=***;DATABASE=d");
  EXPECT_EQ(RedactConnection("postgresql://postgresql://user:pw@host/db"),
            "postgresql://postgresql://user:***@host/db");
  EXPECT_EQ(RedactConnection("sqlite3://db=/var/lib/passwords.db"), "sqlite3://db=/var/lib/passwords.db");
}

TEST(SociSupportTest, CollectsThePasswordsItHides) {
  EXPECT_THAT(ConnectionSecrets("odbc://UID=u;PWD={x;y};DATABASE=d"), ::testing::Contains("x;y"));
  EXPECT_THAT(ConnectionSecrets("mysql://user=u password=s3cret"), ::testing::ElementsAre("s3cret"));
}

TEST(SociSupportTest, BackendAndSqliteBusyTimeout) {
  EXPECT_EQ(BackendOf("PostgreSQL://host=x"), "postgresql");
  EXPECT_EQ(BackendOf("no scheme"), "");
  EXPECT_EQ(EffectiveConnection("sqlite3://db=x.db"), "sqlite3://db=x.db timeout=30");
  EXPECT_EQ(EffectiveConnection("sqlite3://db=x.db timeout=5"), "sqlite3://db=x.db timeout=5");
  EXPECT_EQ(EffectiveConnection("mysql://db=x"), "mysql://db=x");
}

TEST(SociSupportTest, ErrorsKeepSecretsOut) {
  absl::Status s =
      StatusFromException(std::runtime_error("bad value 'tok-123456' here"), false, "saving", {"tok-123456"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "saving: bad value '***' here");
  s = StatusFromException(std::runtime_error("Error (SQL state 08S01)"), false, "reading");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromException(std::runtime_error("x"), true, "r").code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace b24::storage::internal
