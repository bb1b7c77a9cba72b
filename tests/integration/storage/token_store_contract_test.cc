// The TokenStore contract, run against every backend the SOCI store serves:
// SQLite (a temporary file), PostgreSQL (B24_TEST_POSTGRES), MariaDB
// (B24_TEST_MYSQL) and ODBC through psqlODBC (B24_TEST_ODBC), and against the
// in-memory FakeTokenStore (tests/testing), which needs no database. A SQL
// backend whose variable is unset is skipped; tests/databases.sh sets them all.
//
// Like SOCI's own tests (tests/common), the suite is written once and a small
// per-backend context supplies what differs. Tests of the TokenStore contract
// run on every backend; tests of what only SQL has (tables, the schema
// command, encryption at rest, connections) skip the fake. Each test uses its
// own tables (named after the process and a counter) and drops them, so
// several test binaries can share the databases.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "soci/soci.h"
#include "storage/schema.h"
#include "storage/soci_support.h"
#include "storage/soci_token_store.h"
#include "tests/testing/fake_token_store.h"

namespace b24::storage {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kPassword[] = "hunter2-secret";
constexpr char kSqlOnly[] = "SQL backends only";

// What differs between backends.
class BackendContext {
 public:
  virtual ~BackendContext() = default;
  // False for the in-memory fake: no database to open, no table to look into,
  // no schema command.
  virtual bool sql() const { return true; }
  // The environment variable naming the database ("" = always available).
  virtual std::string env_var() const = 0;
  virtual std::string connection() const {
    const char* v = std::getenv(env_var().c_str());
    return v ? v : "";
  }
  // A connection string to a port nobody listens on, carrying kPassword.
  virtual std::string unreachable() const = 0;
};

class SqliteContext : public BackendContext {
 public:
  SqliteContext() {
    char dir[] = "/tmp/b24-store-test.XXXXXX";
    dir_ = mkdtemp(dir);
  }
  ~SqliteContext() override { std::filesystem::remove_all(dir_); }
  std::string env_var() const override { return ""; }
  std::string connection() const override { return absl::StrCat("sqlite3://db=", dir_, "/store.db"); }
  std::string unreachable() const override { return "sqlite3://db=/nonexistent-b24-dir/store.db"; }

 private:
  std::string dir_;
};

class PostgresContext : public BackendContext {
 public:
  std::string env_var() const override { return "B24_TEST_POSTGRES"; }
  std::string unreachable() const override {
    return absl::StrCat("postgresql://host=127.0.0.1 port=1 dbname=b24 user=postgres password=", kPassword);
  }
};

class MysqlContext : public BackendContext {
 public:
  std::string env_var() const override { return "B24_TEST_MYSQL"; }
  std::string unreachable() const override {
    return absl::StrCat("mysql://host=127.0.0.1 port=1 db=b24 user=b24 password=", kPassword);
  }
};

class OdbcContext : public BackendContext {
 public:
  std::string env_var() const override { return "B24_TEST_ODBC"; }
  std::string unreachable() const override {
    return absl::StrCat("odbc://DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=1;DATABASE=b24;UID=postgres;PWD=",
                        kPassword);
  }
};

// ODBC through MariaDB Connector/ODBC to the B24_TEST_MYSQL server: the ODBC
// path's MySQL dialect (that driver counts changed, not matched, rows).
class OdbcMysqlContext : public BackendContext {
 public:
  std::string env_var() const override { return "B24_TEST_MYSQL"; }
  std::string connection() const override {
    std::string mysql = BackendContext::connection();
    if (mysql.empty()) return "";
    std::map<std::string, std::string> kv;
    for (absl::string_view part : absl::StrSplit(mysql.substr(mysql.find("://") + 3), ' ', absl::SkipEmpty())) {
      std::pair<std::string, std::string> p = absl::StrSplit(part, absl::MaxSplits('=', 1));
      kv[p.first] = p.second;
    }
    return absl::StrCat("odbc://DRIVER={MariaDB Unicode};SERVER=", kv["host"], ";PORT=", kv["port"],
                        ";DATABASE=", kv["db"], ";UID=", kv["user"], ";PWD=", kv["password"]);
  }
  std::string unreachable() const override {
    return absl::StrCat("odbc://DRIVER={MariaDB Unicode};SERVER=127.0.0.1;PORT=1;DATABASE=b24;UID=b24;PWD=", kPassword);
  }
};

// The in-memory FakeTokenStore: always available.
class FakeContext : public BackendContext {
 public:
  bool sql() const override { return false; }
  std::string env_var() const override { return ""; }
  std::string unreachable() const override { return ""; }
};

std::unique_ptr<BackendContext> MakeContext(const std::string& name) {
  if (name == "fake") return std::make_unique<FakeContext>();
  if (name == "odbc_mysql") return std::make_unique<OdbcMysqlContext>();
  if (name == "sqlite") return std::make_unique<SqliteContext>();
  if (name == "postgresql") return std::make_unique<PostgresContext>();
  if (name == "mysql") return std::make_unique<MysqlContext>();
  return std::make_unique<OdbcContext>();
}

PortalRecord Portal(const std::string& member_id) {
  PortalRecord r;
  r.member_id = member_id;
  r.domain = "example.bitrix24.com";
  r.client_endpoint = "https://example.bitrix24.com/rest/";
  r.server_endpoint = "https://oauth.bitrix.info/rest/";
  r.client_id = "local.65a1b2c3d4e5f6.12345678";
  r.client_secret = "secret-" + member_id;
  r.access_token = "access-" + member_id;
  r.refresh_token = "refresh-" + member_id;
  r.application_token = "app-" + member_id;
  r.expires_in = 3600;
  r.expires_at = 1700003600;
  return r;
}

void ExpectSamePortal(const PortalRecord& got, const PortalRecord& want) {
  EXPECT_EQ(got.member_id, want.member_id);
  EXPECT_EQ(got.domain, want.domain);
  EXPECT_EQ(got.client_endpoint, want.client_endpoint);
  EXPECT_EQ(got.server_endpoint, want.server_endpoint);
  EXPECT_EQ(got.client_id, want.client_id);
  EXPECT_EQ(got.client_secret, want.client_secret);
  EXPECT_EQ(got.access_token, want.access_token);
  EXPECT_EQ(got.refresh_token, want.refresh_token);
  EXPECT_EQ(got.application_token, want.application_token);
  EXPECT_EQ(got.expires_in, want.expires_in);
  EXPECT_EQ(got.expires_at, want.expires_at);
  EXPECT_EQ(got.needs_reinstall, want.needs_reinstall);
}

TokenUpdate Update(const std::string& suffix) {
  TokenUpdate u;
  u.access_token = "access-" + suffix;
  u.refresh_token = "refresh-" + suffix;
  u.expires_in = 3600;
  u.expires_at = 1700007200;
  return u;
}

class TokenStoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ctx_ = MakeContext(GetParam());
    if (!ctx_->sql()) return;
    if (ctx_->connection().empty()) {
      GTEST_SKIP() << GetParam() << " not tested: set " << ctx_->env_var()
                   << " (`source tests/databases.sh; start_databases` exports it)";
    }
    raw_.open(internal::EffectiveConnection(ctx_->connection()));
    opened_ = true;
    dialect_ = *internal::DetectDialect(raw_);
    if (dialect_ == Dialect::kPostgresql) raw_ << "SET client_min_messages TO WARNING";  // no DROP IF EXISTS notices
    table_ = NewTable();
  }

  void TearDown() override {
    stores_.clear();
    fake_.reset();
    if (!opened_) return;
    for (const std::string& t : tables_) {
      try {
        raw_ << "DROP TABLE IF EXISTS " << t;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "cannot drop " << t << ": " << e.what();
      }
    }
  }

  std::string NewTable(const std::string& prefix = "b24t") {
    static std::atomic<int> counter{0};
    std::string name =
        absl::StrCat(prefix, "_", getpid(), "_", counter++, "_", absl::ToUnixMicros(absl::Now()) % 1000000);
    tables_.push_back(name);
    return name;
  }

  StoreOptions ConfigFor(const StoreColumns& columns) {
    StoreOptions c;
    c.connection = ctx_->connection();
    c.columns = columns;
    return c;
  }

  struct CommandResult {
    int code;
    std::string out, err;
  };
  CommandResult Schema(std::vector<std::string> args, const StoreColumns& columns) {
    std::ostringstream out, err;
    int code = RunSchemaCommand(args, ConfigFor(columns), out, err);
    return {code, out.str(), err.str()};
  }

  StoreColumns Columns(const std::string& table) {
    StoreColumns c;
    c.table = table;
    return c;
  }

  StoreOptions Options(const StoreColumns& columns, int pool_size = 4) {
    StoreOptions o;
    o.connection = ctx_->connection();
    o.pool_size = pool_size;
    o.columns = columns;
    return o;
  }

  // Opens a store on `options`; the fixture owns it. Null (and a failure) on error.
  SociTokenStore* Open(const StoreOptions& options) {
    absl::StatusOr<std::unique_ptr<SociTokenStore>> s = SociTokenStore::Open(options);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    stores_.push_back(*std::move(s));
    return stores_.back().get();
  }

  // A store on a fresh table made by `schema init` (every column).
  SociTokenStore* InitAndOpen(int pool_size = 4) {
    CommandResult r = Schema({"init"}, Columns(table_));
    EXPECT_EQ(r.code, 0) << r.err;
    return Open(Options(Columns(table_), pool_size));
  }

  // The backend's store with every optional feature: InitAndOpen() for SQL,
  // a FakeTokenStore otherwise (one per test). Null (and a failure) on error.
  TokenStore* NewStore(int pool_size = 4) {
    if (!ctx_->sql()) {
      fake_ = std::make_unique<b24::testing::FakeTokenStore>();
      return fake_.get();
    }
    SociTokenStore* store = InitAndOpen(pool_size);
    if (store != nullptr) {
      EXPECT_THAT(store->missing_columns(), IsEmpty());
    }
    return store;
  }

  // The owner of the refresh lease of `member_id` in NewStore()'s store.
  std::string LeaseOwner(const std::string& member_id) {
    if (!ctx_->sql()) return fake_->LeaseOwner(member_id);
    return RawValue(table_, "b24_refresh_lease_owner", "member_id", member_id);
  }

  // One column of one row as stored; `ind` tells NULL from "".
  std::string RawValue(const std::string& table, const std::string& column, const std::string& member_column,
                       const std::string& member_id, soci::indicator* ind = nullptr) {
    std::string v;
    soci::indicator i = soci::i_null;
    raw_ << "SELECT " << column << " FROM " << table << " WHERE " << member_column << " = :m", soci::use(member_id),
        soci::into(v, i);
    if (ind) *ind = i;
    return v;
  }

  std::unique_ptr<BackendContext> ctx_;
  soci::session raw_;
  bool opened_ = false;
  Dialect dialect_ = Dialect::kSqlite;
  std::string table_;
  std::vector<std::string> tables_;
  std::vector<std::unique_ptr<SociTokenStore>> stores_;
  std::unique_ptr<b24::testing::FakeTokenStore> fake_;
};

TEST_P(TokenStoreContractTest, GetUpsertListRemove) {
  TokenStore* store = NewStore();  // on SQL also checks that no column is missing
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Get("nobody").status().code(), absl::StatusCode::kNotFound);

  PortalRecord a = Portal("a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5");
  ASSERT_TRUE(store->Upsert(a).ok());
  absl::StatusOr<PortalRecord> got = store->Get(a.member_id);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSamePortal(*got, a);
  EXPECT_EQ(got->cas_token, a.refresh_token);

  // Upsert replaces every field of an existing row (reinstallation).
  a.domain = "renamed.bitrix24.com";
  a.access_token = "access-2";
  a.refresh_token = "refresh-2";
  a.expires_at = 1800000000;
  a.needs_reinstall = true;
  ASSERT_TRUE(store->Upsert(a).ok());
  ExpectSamePortal(*store->Get(a.member_id), a);

  PortalRecord b = Portal("0000b");
  PortalRecord c = Portal("0000c");
  ASSERT_TRUE(store->Upsert(c).ok());
  ASSERT_TRUE(store->Upsert(b).ok());
  absl::StatusOr<std::vector<PortalRecord>> all = store->List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_THAT(*all, SizeIs(3));
  EXPECT_EQ((*all)[0].member_id, "0000b");
  EXPECT_EQ((*all)[1].member_id, "0000c");
  ExpectSamePortal((*all)[2], a);

  EXPECT_TRUE(*store->Remove(b.member_id));
  EXPECT_FALSE(*store->Remove(b.member_id));
  EXPECT_EQ(store->Get(b.member_id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*store->List(), SizeIs(2));
}

TEST_P(TokenStoreContractTest, EmptyValuesAreEmptyStringsNotNull) {
  TokenStore* store = NewStore();
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("m-empty");
  r.application_token = "";
  r.client_secret = "";
  r.server_endpoint = "";
  ASSERT_TRUE(store->Upsert(r).ok());
  if (ctx_->sql()) {  // NULL is a SQL value; the fake has only strings
    soci::indicator ind;
    EXPECT_EQ(RawValue(table_, "application_token", "member_id", r.member_id, &ind), "");
    EXPECT_EQ(ind, soci::i_ok);
    EXPECT_EQ(RawValue(table_, "b24_server_endpoint", "member_id", r.member_id, &ind), "");
    EXPECT_EQ(ind, soci::i_ok);
  }
  ExpectSamePortal(*store->Get(r.member_id), r);
}

TEST_P(TokenStoreContractTest, ValuesAreBoundNotSpliced) {
  TokenStore* store = NewStore();
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("x'); DROP TABLE t; --");
  r.access_token = "a'b\"c`d]e\\f:p1 ?";
  ASSERT_TRUE(store->Upsert(r).ok());
  ExpectSamePortal(*store->Get(r.member_id), r);
}

TEST_P(TokenStoreContractTest, SwapTokensIsCompareAndSwap) {
  TokenStore* store = NewStore();
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("m-swap");
  ASSERT_TRUE(store->Upsert(r).ok());
  std::string cas = store->Get(r.member_id)->cas_token;
  ASSERT_TRUE(*store->TryLease(r.member_id, cas, "proc-1", 2000, 1000));
  ASSERT_TRUE(store->MarkNeedsReinstall(r.member_id, cas).ok());

  EXPECT_FALSE(*store->SwapTokens(r.member_id, "not-the-stored-token", Update("x")));
  EXPECT_EQ(store->Get(r.member_id)->refresh_token, r.refresh_token);
  // Case and trailing spaces matter even where the collation would ignore them.
  std::string upper = cas;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(ch));
  EXPECT_FALSE(*store->SwapTokens(r.member_id, upper, Update("x")));
  EXPECT_FALSE(*store->SwapTokens(r.member_id, cas + " ", Update("x")));

  TokenUpdate u = Update("2");
  u.server_endpoint = "https://oauth.bitrix24.tech/rest/";
  ASSERT_TRUE(*store->SwapTokens(r.member_id, cas, u));
  PortalRecord now = *store->Get(r.member_id);
  EXPECT_EQ(now.access_token, "access-2");
  EXPECT_EQ(now.refresh_token, "refresh-2");
  EXPECT_EQ(now.expires_at, 1700007200);
  EXPECT_EQ(now.server_endpoint, "https://oauth.bitrix24.tech/rest/");
  EXPECT_EQ(now.domain, r.domain);  // "" = keep
  EXPECT_EQ(now.client_endpoint, r.client_endpoint);
  EXPECT_FALSE(now.needs_reinstall);
  EXPECT_EQ(LeaseOwner(r.member_id), "");
  // The old refresh token is spent: a second writer from it loses.
  EXPECT_FALSE(*store->SwapTokens(r.member_id, cas, Update("3")));
  EXPECT_EQ(store->SwapTokens("nobody", cas, Update("3")).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(TokenStoreContractTest, TryLease) {
  TokenStore* store = NewStore();
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("m-lease");
  ASSERT_TRUE(store->Upsert(r).ok());
  std::string cas = store->Get(r.member_id)->cas_token;

  EXPECT_TRUE(*store->TryLease(r.member_id, cas, "proc-a", 1060, 1000));
  EXPECT_FALSE(*store->TryLease(r.member_id, cas, "proc-b", 1070, 1010));  // a's lease is live
  EXPECT_TRUE(*store->TryLease(r.member_id, cas, "proc-a", 1060, 1020));   // renewing one's own, same until
  EXPECT_TRUE(*store->TryLease(r.member_id, cas, "proc-a", 1080, 1020));
  EXPECT_FALSE(*store->TryLease(r.member_id, cas, "PROC-A", 1090, 1030));  // owners compare exactly
  EXPECT_TRUE(*store->TryLease(r.member_id, cas, "proc-b", 1140, 1080));   // a's lease expired
  EXPECT_FALSE(*store->TryLease(r.member_id, "stale", "proc-c", 1200, 1500));
  EXPECT_EQ(store->TryLease("nobody", cas, "proc-a", 1, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->TryLease(r.member_id, cas, "", 1, 0).status().code(), absl::StatusCode::kInvalidArgument);

  // A successful swap clears the lease: anyone may claim the next refresh.
  ASSERT_TRUE(*store->SwapTokens(r.member_id, cas, Update("2")));
  std::string next = store->Get(r.member_id)->cas_token;
  EXPECT_TRUE(*store->TryLease(r.member_id, next, "proc-c", 1160, 1090));
}

TEST_P(TokenStoreContractTest, MarkNeedsReinstallAndUpdateDomain) {
  TokenStore* store = NewStore();
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("m-mark");
  ASSERT_TRUE(store->Upsert(r).ok());
  std::string cas = store->Get(r.member_id)->cas_token;

  EXPECT_TRUE(store->MarkNeedsReinstall(r.member_id, "stale").ok());  // the token moved on: nothing to mark
  EXPECT_FALSE(store->Get(r.member_id)->needs_reinstall);
  EXPECT_TRUE(store->MarkNeedsReinstall(r.member_id, cas).ok());
  EXPECT_TRUE(store->MarkNeedsReinstall(r.member_id, cas).ok());
  PortalRecord marked = *store->Get(r.member_id);
  EXPECT_TRUE(marked.needs_reinstall);
  EXPECT_EQ(marked.refresh_token, r.refresh_token);  // tokens are kept
  EXPECT_EQ(store->MarkNeedsReinstall("nobody", cas).code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(store->UpdateDomain(r.member_id, "new.bitrix24.de", "https://new.bitrix24.de/rest/").ok());
  ASSERT_TRUE(store->UpdateDomain(r.member_id, "new.bitrix24.de", "https://new.bitrix24.de/rest/").ok());
  PortalRecord renamed = *store->Get(r.member_id);
  EXPECT_EQ(renamed.domain, "new.bitrix24.de");
  EXPECT_EQ(renamed.client_endpoint, "https://new.bitrix24.de/rest/");
  EXPECT_EQ(renamed.access_token, r.access_token);
  EXPECT_EQ(store->UpdateDomain("nobody", "x", "y").code(), absl::StatusCode::kNotFound);
}

TEST_P(TokenStoreContractTest, ConcurrentSwapTokensHasExactlyOneWinner) {
  TokenStore* store = NewStore(/*pool_size=*/8);
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("m-race");
  ASSERT_TRUE(store->Upsert(r).ok());
  std::string cas = store->Get(r.member_id)->cas_token;
  constexpr int kThreads = 32;
  std::atomic<int> winners{0}, errors{0}, winner{-1};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      absl::StatusOr<bool> won = store->SwapTokens(r.member_id, cas, Update(absl::StrCat("t", i)));
      if (!won.ok()) {
        ++errors;
        ADD_FAILURE() << won.status();
      } else if (*won) {
        ++winners;
        winner = i;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors, 0);
  ASSERT_EQ(winners, 1);
  EXPECT_EQ(store->Get(r.member_id)->refresh_token, absl::StrCat("refresh-t", winner.load()));
}

TEST_P(TokenStoreContractTest, ConcurrentTryLeaseHasExactlyOneWinner) {
  TokenStore* store = NewStore(/*pool_size=*/8);
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("m-lease-race");
  ASSERT_TRUE(store->Upsert(r).ok());
  std::string cas = store->Get(r.member_id)->cas_token;
  constexpr int kThreads = 32;
  std::atomic<int> winners{0}, winner{-1};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      absl::StatusOr<bool> claimed = store->TryLease(r.member_id, cas, absl::StrCat("proc-", i), 5000 + i, 1000);
      EXPECT_TRUE(claimed.ok()) << claimed.status();
      if (claimed.ok() && *claimed) {
        ++winners;
        winner = i;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(winners, 1);
  EXPECT_EQ(LeaseOwner(r.member_id), absl::StrCat("proc-", winner.load()));
}

// A table of the PHP package simple-api-bitrix24, created by hand under the
// user's own names, works unchanged; `schema migrate` then adds the extras.
TEST_P(TokenStoreContractTest, SeedTableWorksUnchangedThenMigrates) {
  if (!ctx_->sql()) GTEST_SKIP() << kSqlOnly;
  std::string table = NewTable("bx_auth");
  std::string id;
  switch (dialect_) {
    case Dialect::kMysql:
      id = "Auth_Id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY";
      break;
    case Dialect::kSqlite:
      id = "Auth_Id INTEGER PRIMARY KEY AUTOINCREMENT";
      break;
    case Dialect::kSqlServer:
      id = "Auth_Id BIGINT IDENTITY PRIMARY KEY";
      break;
    default:
      id = "Auth_Id BIGSERIAL PRIMARY KEY";
      break;
  }
  // Unquoted mixed-case names, as a user would type them (PostgreSQL folds them).
  raw_ << "CREATE TABLE " << table << " (" << id
       << ", Portal_Member VARCHAR(255) UNIQUE NOT NULL, access VARCHAR(255) NOT NULL, ttl VARCHAR(255) NOT NULL, "
          "app_token VARCHAR(255) NOT NULL, refresh VARCHAR(255) NOT NULL, portal_domain VARCHAR(255) NOT NULL, "
          "endpoint VARCHAR(255) NOT NULL, app_id VARCHAR(255) NOT NULL, app_secret VARCHAR(255) NOT NULL)";
  raw_ << "INSERT INTO " << table
       << " (Portal_Member, access, ttl, app_token, refresh, portal_domain, endpoint, app_id, app_secret) VALUES "
          "('php-portal', 'php-access', '3600', 'php-app', 'php-refresh', 'old.bitrix24.ru', "
          "'https://old.bitrix24.ru/rest/', 'local.php', 'php-secret')";
  StoreColumns cols;
  cols.table = table;
  cols.id = "Auth_Id";
  cols.member_id = "Portal_Member";
  cols.access_token = "access";
  cols.expires_in = "ttl";
  cols.application_token = "app_token";
  cols.refresh_token = "refresh";
  cols.domain = "portal_domain";
  cols.client_endpoint = "endpoint";
  cols.client_id = "app_id";
  cols.client_secret = "app_secret";

  SociTokenStore* store = Open(Options(cols));
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->missing_columns(), SizeIs(ExtraColumns().size()));
  absl::StatusOr<PortalRecord> php = store->Get("php-portal");
  ASSERT_TRUE(php.ok()) << php.status();
  EXPECT_EQ(php->access_token, "php-access");
  EXPECT_EQ(php->refresh_token, "php-refresh");
  EXPECT_EQ(php->expires_in, 3600);
  EXPECT_EQ(php->expires_at, 0);  // unknown without b24_expires_at
  EXPECT_EQ(php->server_endpoint, "");
  EXPECT_EQ(php->client_secret, "php-secret");

  PortalRecord r = Portal("m-seed");
  ASSERT_TRUE(store->Upsert(r).ok());
  PortalRecord want = r;
  want.expires_at = 0;
  want.server_endpoint = "";
  ExpectSamePortal(*store->Get(r.member_id), want);
  EXPECT_EQ(RawValue(table, "ttl", "Portal_Member", r.member_id), "3600");

  // Without lease columns TryLease claims whenever the token is current.
  std::string cas = store->Get(r.member_id)->cas_token;
  EXPECT_TRUE(*store->TryLease(r.member_id, cas, "proc-a", 2000, 1000));
  EXPECT_TRUE(*store->TryLease(r.member_id, cas, "proc-b", 2000, 1000));
  EXPECT_FALSE(*store->TryLease(r.member_id, "stale", "proc-a", 2000, 1000));
  // Without b24_needs_reinstall the mark lives in this process only.
  ASSERT_TRUE(store->MarkNeedsReinstall(r.member_id, cas).ok());
  EXPECT_TRUE(store->Get(r.member_id)->needs_reinstall);
  SociTokenStore* other_process = Open(Options(cols));
  ASSERT_NE(other_process, nullptr);
  EXPECT_FALSE(other_process->Get(r.member_id)->needs_reinstall);
  EXPECT_FALSE(*store->SwapTokens(r.member_id, "stale", Update("x")));
  ASSERT_TRUE(*store->SwapTokens(r.member_id, cas, Update("2")));
  EXPECT_FALSE(store->Get(r.member_id)->needs_reinstall);
  EXPECT_EQ(store->Get(r.member_id)->refresh_token, "refresh-2");

  // show / dry-run change nothing; migrate adds the extras once.
  CommandResult show = Schema({"show"}, cols);
  EXPECT_EQ(show.code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("b24_expires_at  missing"));
  EXPECT_THAT(show.out, HasSubstr("Portal_Member  present"));
  CommandResult dry = Schema({"migrate", "--dry-run"}, cols);
  EXPECT_EQ(dry.code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("ADD COLUMN"));
  SociTokenStore* unchanged = Open(Options(cols));
  ASSERT_NE(unchanged, nullptr);
  EXPECT_THAT(unchanged->missing_columns(), SizeIs(ExtraColumns().size()));

  CommandResult migrate = Schema({"schema", "migrate"}, cols);
  ASSERT_EQ(migrate.code, 0) << migrate.err;
  EXPECT_THAT(migrate.out, HasSubstr("added 7 column(s)"));
  CommandResult again = Schema({"migrate"}, cols);
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("already has every column"));
  EXPECT_THAT(Schema({"show"}, cols).out, Not(HasSubstr("missing")));

  SociTokenStore* migrated = Open(Options(cols));
  ASSERT_NE(migrated, nullptr);
  EXPECT_THAT(migrated->missing_columns(), IsEmpty());
  EXPECT_EQ(migrated->Get("php-portal")->access_token, "php-access");
  EXPECT_EQ(migrated->Get("php-portal")->expires_at, 0);
  std::string cas2 = migrated->Get(r.member_id)->cas_token;
  EXPECT_TRUE(*migrated->TryLease(r.member_id, cas2, "proc-a", 2000, 1000));
  EXPECT_FALSE(*migrated->TryLease(r.member_id, cas2, "proc-b", 2000, 1000));
  ASSERT_TRUE(migrated->MarkNeedsReinstall(r.member_id, cas2).ok());
  EXPECT_TRUE(other_process->Get(r.member_id).ok());
  SociTokenStore* fresh = Open(Options(cols));
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(fresh->Get(r.member_id)->needs_reinstall);  // now shared through the table
}

TEST_P(TokenStoreContractTest, SchemaInitIsIdempotent) {
  if (!ctx_->sql()) GTEST_SKIP() << kSqlOnly;
  StoreColumns cols = Columns(table_);
  CommandResult dry = Schema({"init", "--dry-run"}, cols);
  EXPECT_EQ(dry.code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("CREATE TABLE"));
  EXPECT_EQ(SociTokenStore::Open(Options(cols)).status().code(), absl::StatusCode::kFailedPrecondition);
  CommandResult first = Schema({"init"}, cols);
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_THAT(first.out, HasSubstr("created"));
  CommandResult second = Schema({"init"}, cols);
  EXPECT_EQ(second.code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("already has every column"));
  EXPECT_THAT(Schema({"migrate"}, Columns(NewTable())).code, 1);  // migrate needs an existing table
}

TEST_P(TokenStoreContractTest, ReservedWordsAsColumnNames) {
  if (!ctx_->sql()) GTEST_SKIP() << kSqlOnly;
  StoreColumns cols = Columns(table_);
  cols.member_id = "select";
  cols.access_token = "from";
  cols.domain = "order";
  cols.client_id = "user";
  cols.client_secret = "key";
  CommandResult init = Schema({"init"}, cols);
  ASSERT_EQ(init.code, 0) << init.err;
  SociTokenStore* store = Open(Options(cols));
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("m-reserved");
  ASSERT_TRUE(store->Upsert(r).ok());
  ASSERT_TRUE(*store->SwapTokens(r.member_id, store->Get(r.member_id)->cas_token, Update("2")));
  EXPECT_EQ(store->Get(r.member_id)->access_token, "access-2");
  EXPECT_THAT(*store->List(), SizeIs(1));
}

TEST_P(TokenStoreContractTest, IdentifiersAreValidated) {
  if (!ctx_->sql()) GTEST_SKIP() << kSqlOnly;
  StoreColumns cols = Columns(table_ + "; DROP TABLE users");
  absl::StatusOr<std::unique_ptr<SociTokenStore>> s = SociTokenStore::Open(Options(cols));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("store.table"));
  EXPECT_EQ(Schema({"init"}, cols).code, 2);
  cols = Columns(table_);
  cols.refresh_token = "refresh\"token";
  EXPECT_EQ(SociTokenStore::Open(Options(cols)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(TokenStoreContractTest, EncryptionAtRestAndKeyRotation) {
  if (!ctx_->sql()) GTEST_SKIP() << kSqlOnly;
  ASSERT_NE(InitAndOpen(), nullptr);
  std::string key1 = std::string(64, 'a');                      // hex
  std::string key2 = absl::Base64Escape(std::string(32, 'b'));  // base64
  StoreOptions plain_opts = Options(Columns(table_));
  StoreOptions k1_opts = plain_opts, k21_opts = plain_opts, k2_opts = plain_opts;
  k1_opts.keyring = *Keyring::Parse("k1:" + key1);
  k21_opts.keyring = *Keyring::Parse(absl::StrCat("k2:", key2, ",k1:", key1));
  k2_opts.keyring = *Keyring::Parse("k2:" + key2);
  SociTokenStore* plain = Open(plain_opts);
  SociTokenStore* k1 = Open(k1_opts);
  ASSERT_TRUE(plain && k1);

  // Tokens as long as real ones (and longer) fit the 255-character columns.
  PortalRecord a = Portal("m-enc");
  a.access_token = std::string(100, 'A');
  a.refresh_token = std::string(100, 'R');
  ASSERT_TRUE(k1->Upsert(a).ok());
  for (const char* column : {"access_token", "refresh_token", "client_secret", "application_token"}) {
    std::string stored = RawValue(table_, column, "member_id", a.member_id);
    EXPECT_THAT(stored, StartsWith("enc:v1:k1:")) << column;
    EXPECT_LE(stored.size(), 255u);
  }
  EXPECT_THAT(RawValue(table_, "access_token", "member_id", a.member_id), Not(HasSubstr("AAAAAAAAAA")));
  EXPECT_EQ(RawValue(table_, "b24_key_id", "member_id", a.member_id), "k1");
  PortalRecord got = *k1->Get(a.member_id);
  ExpectSamePortal(got, a);
  EXPECT_EQ(got.cas_token, RawValue(table_, "refresh_token", "member_id", a.member_id));  // the ciphertext
  EXPECT_FALSE(*k1->SwapTokens(a.member_id, a.refresh_token, Update("x")));  // plaintext is not the stored text

  // Rows written before encryption was enabled still read, and are encrypted as they are rewritten.
  PortalRecord old = Portal("m-plain");
  ASSERT_TRUE(plain->Upsert(old).ok());
  EXPECT_EQ(RawValue(table_, "refresh_token", "member_id", old.member_id), old.refresh_token);
  PortalRecord old_read = *k1->Get(old.member_id);
  ExpectSamePortal(old_read, old);
  EXPECT_THAT(RawValue(table_, "client_secret", "member_id", old.member_id), StartsWith("enc:v1:k1:"));
  ASSERT_TRUE(*k1->SwapTokens(old.member_id, old_read.cas_token, Update("new")));
  EXPECT_THAT(RawValue(table_, "refresh_token", "member_id", old.member_id), StartsWith("enc:v1:k1:"));
  EXPECT_EQ(k1->Get(old.member_id)->refresh_token, "refresh-new");

  // A store without the key cannot read encrypted rows and says why.
  absl::StatusOr<PortalRecord> no_key = plain->Get(a.member_id);
  EXPECT_EQ(no_key.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_key.status().message(), HasSubstr("no encryption key"));
  EXPECT_THAT(no_key.status().message(), Not(HasSubstr("RRRRRRRR")));

  // Rotation: k2 first, k1 still listed. Old rows read; rewrites move to k2.
  SociTokenStore* k21 = Open(k21_opts);
  ASSERT_NE(k21, nullptr);
  PortalRecord rotated = *k21->Get(a.member_id);
  ExpectSamePortal(rotated, a);
  EXPECT_THAT(RawValue(table_, "client_secret", "member_id", a.member_id), StartsWith("enc:v1:k2:"));
  ASSERT_TRUE(*k21->SwapTokens(a.member_id, rotated.cas_token, Update("rot")));
  EXPECT_THAT(RawValue(table_, "refresh_token", "member_id", a.member_id), StartsWith("enc:v1:k2:"));
  EXPECT_EQ(RawValue(table_, "b24_key_id", "member_id", a.member_id), "k2");
  ASSERT_TRUE(k21->Get(old.member_id).ok());
  ASSERT_TRUE(*k21->SwapTokens(old.member_id, k21->Get(old.member_id)->cas_token, Update("rot2")));

  // With every value rewritten, k1 can go.
  SociTokenStore* k2 = Open(k2_opts);
  ASSERT_NE(k2, nullptr);
  EXPECT_EQ(k2->Get(a.member_id)->refresh_token, "refresh-rot");
  EXPECT_EQ(k2->Get(old.member_id)->refresh_token, "refresh-rot2");
  ASSERT_TRUE(k1->Upsert(Portal("m-k1")).ok());
  absl::StatusOr<PortalRecord> lost = k2->Get("m-k1");
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(lost.status().message(), HasSubstr("'k1'"));

  // Too long to fit once encrypted: refused, never truncated.
  PortalRecord huge = Portal("m-huge");
  huge.refresh_token = std::string(200, 'x');
  absl::Status s = k1->Upsert(huge);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("255"));
  EXPECT_EQ(k1->Get("m-huge").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(TokenStoreContractTest, OpenErrors) {
  if (!ctx_->sql()) GTEST_SKIP() << kSqlOnly;
  absl::StatusOr<std::unique_ptr<SociTokenStore>> s = SociTokenStore::Open(Options(Columns(table_)));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("bitrix24-service schema init"));

  StoreOptions create = Options(Columns(table_));
  create.create_if_missing = true;
  SociTokenStore* created = Open(create);
  ASSERT_NE(created, nullptr);
  EXPECT_THAT(created->missing_columns(), IsEmpty());

  StoreColumns wrong = Columns(table_);
  wrong.client_secret = "secret_of_the_app";
  s = SociTokenStore::Open(Options(wrong));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("store.column.client_secret"));
}

TEST_P(TokenStoreContractTest, UnreachableDatabaseIsUnavailable) {
  if (!ctx_->sql()) GTEST_SKIP() << kSqlOnly;
  StoreOptions o = Options(Columns(table_));
  o.connection = ctx_->unreachable();
  absl::StatusOr<std::unique_ptr<SociTokenStore>> s = SociTokenStore::Open(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("cannot connect to the token store"));
  EXPECT_THAT(s.status().message(), Not(HasSubstr(kPassword)));

  std::ostringstream out, err;
  StoreOptions config = ConfigFor(Columns(table_));
  config.connection = ctx_->unreachable();
  EXPECT_EQ(RunSchemaCommand({"show"}, config, out, err), 1);
  EXPECT_THAT(err.str(), HasSubstr("cannot connect"));
  EXPECT_THAT(err.str(), Not(HasSubstr(kPassword)));
}

// Connections the server dropped (restart, idle timeout) are reopened.
TEST_P(TokenStoreContractTest, RecoversFromDroppedConnections) {
  if (!ctx_->sql()) GTEST_SKIP() << kSqlOnly;
  if (dialect_ != Dialect::kPostgresql) GTEST_SKIP() << "needs pg_terminate_backend";
  std::string app = absl::StrCat("b24t_", getpid(), "_", absl::ToUnixMicros(absl::Now()));
  ASSERT_EQ(Schema({"init"}, Columns(table_)).code, 0);
  StoreOptions o = Options(Columns(table_), 2);
  o.connection += GetParam() == "odbc" ? absl::StrCat(";pqopt={application_name=", app, "}")
                                       : absl::StrCat(" application_name=", app);
  SociTokenStore* store = Open(o);
  ASSERT_NE(store, nullptr);
  PortalRecord r = Portal("m-drop");
  ASSERT_TRUE(store->Upsert(r).ok());
  int killed = 0;
  raw_ << "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :a", soci::use(app),
      soci::into(killed);
  EXPECT_EQ(killed, 2);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<PortalRecord> got = store->Get(r.member_id);
    ASSERT_TRUE(got.ok()) << got.status();
  }
  EXPECT_TRUE(*store->SwapTokens(r.member_id, store->Get(r.member_id)->cas_token, Update("2")));
}

INSTANTIATE_TEST_SUITE_P(Backends, TokenStoreContractTest,
                         ::testing::Values("sqlite", "postgresql", "mysql", "odbc", "odbc_mysql", "fake"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace b24::storage
