#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/soci_token_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "soci/soci.h"
#include "storage/soci_support.h"

namespace b24::storage {
namespace {

using internal::Field;
using internal::Statement;
using internal::Value;

// The seed columns (and our VARCHAR extras) hold 255 characters; MySQL in
// non-strict mode would silently truncate a longer token.
constexpr size_t kMaxChars = 255;

// Field names bound into the ciphertext (GCM associated data).
constexpr char kAccess[] = "access_token";
constexpr char kRefresh[] = "refresh_token";
constexpr char kSecret[] = "client_secret";
constexpr char kAppToken[] = "application_token";

std::string Context(const std::string& member_id, const char* field) { return absl::StrCat(member_id, "/", field); }

absl::Status CheckFits(const internal::Layout& layout, const std::vector<std::pair<Field, Value>>& values) {
  for (const auto& [f, v] : values) {
    const std::string* s = std::get_if<std::string>(&v);
    if (s != nullptr && s->size() > kMaxChars) {
      return absl::InvalidArgumentError(absl::StrCat("the value for column ", layout.column[f], " is ", s->size(),
                                                     " characters; the column holds ", kMaxChars));
    }
  }
  return absl::OkStatus();
}

std::string NotFoundMessage(const std::string& member_id) {
  return absl::StrCat("no portal with member_id ", member_id, " is installed");
}

}  // namespace

absl::StatusOr<std::unique_ptr<SociTokenStore>> SociTokenStore::Open(const StoreOptions& options) {
  if (absl::Status s = ValidateColumns(options.columns); !s.ok()) return s;
  if (options.pool_size < 1) return absl::InvalidArgumentError("store.pool_size must be at least 1");
  if (internal::BackendOf(options.connection).empty()) {
    return absl::InvalidArgumentError(
        "store.url must be a SOCI connection string like sqlite3://db=FILE or postgresql://host=... dbname=...");
  }
  auto pool = std::make_unique<soci::connection_pool>(options.pool_size);
  for (int i = 0; i < options.pool_size; ++i) {
    if (absl::Status s = internal::Connect(pool->at(i), options.connection); !s.ok()) return s;
  }
  soci::session& sql = pool->at(0);
  const std::string& table = options.columns.table;
  try {
    absl::StatusOr<Dialect> dialect = internal::DetectDialect(sql);
    if (!dialect.ok()) return dialect.status();
    std::vector<std::string> columns;
    try {
      columns = internal::TableColumns(sql, *dialect, table);
    } catch (const std::exception& e) {
      if (!sql.is_connected()) throw;
      if (!options.create_if_missing) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot read the token table ", table, " (",
                         internal::StatusFromException(e, false, "database says").message(),
                         "); create it with `bitrix24-service schema init` or point store.table at an existing table"));
      }
      for (const std::string& ddl : InitStatements(*dialect, options.columns)) sql << ddl;
      columns = internal::TableColumns(sql, *dialect, table);
    }
    absl::StatusOr<internal::Layout> layout = internal::ResolveLayout(*dialect, options.columns, columns);
    if (!layout.ok()) return layout.status();
    return std::unique_ptr<SociTokenStore>(new SociTokenStore(options, std::move(pool), *std::move(layout)));
  } catch (const std::exception& e) {
    return internal::StatusFromException(e, !sql.is_connected(), absl::StrCat("opening the token table ", table));
  }
}

SociTokenStore::SociTokenStore(StoreOptions options, std::unique_ptr<soci::connection_pool> pool,
                               internal::Layout layout)
    : options_(std::move(options)), pool_(std::move(pool)), layout_(std::move(layout)) {
  internal::SelectPortals(layout_, "", &fields_);
  index_.assign(internal::kFieldCount, -1);
  for (size_t i = 0; i < fields_.size(); ++i) index_[fields_[i]] = static_cast<int>(i);
}

SociTokenStore::~SociTokenStore() = default;

std::vector<std::string> SociTokenStore::missing_columns() const {
  std::vector<std::string> out;
  for (int f = internal::kSeedFieldCount; f < internal::kFieldCount; ++f) {
    if (!layout_.has(Field(f))) out.push_back(ExtraColumns()[f - internal::kSeedFieldCount].name);
  }
  return out;
}

int64_t SociTokenStore::NowUnix() const { return absl::ToUnixSeconds(options_.now ? options_.now() : absl::Now()); }

const std::string& SociTokenStore::Cell(const Row& row, Field f) const {
  static const std::string kEmpty;
  return index_[f] < 0 ? kEmpty : row[index_[f]];
}

absl::Status SociTokenStore::WithSession(const std::string& what, bool retry, const std::vector<std::string>& secrets,
                                         const std::function<void(soci::session&)>& fn) {
  size_t pos = pool_->lease();
  soci::session& sql = pool_->at(pos);
  absl::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      fn(sql);
      status = absl::OkStatus();
      break;
    } catch (const std::exception& e) {
      bool lost = !sql.is_connected();
      status = internal::StatusFromException(e, lost, what, secrets);
      if (!lost) break;
      try {
        sql.reconnect();  // so that this or the next call on the connection works again
      } catch (const std::exception& down) {
        status = internal::StatusFromException(down, true, absl::StrCat(what, ": cannot reconnect to the database"),
                                               internal::ConnectionSecrets(options_.connection));
        break;
      }
      if (!retry) break;
    }
  }
  pool_->give_back(pos);
  return status;
}

absl::StatusOr<long long> SociTokenStore::Execute(const std::string& what, bool retry, const Statement& st,
                                                  const std::vector<std::string>& secrets) {
  long long rows = 0;
  absl::Status s = WithSession(what, retry, secrets, [&](soci::session& sql) { rows = internal::Execute(sql, st); });
  if (!s.ok()) return s;
  return rows;
}

absl::StatusOr<std::optional<SociTokenStore::Row>> SociTokenStore::ReadRow(const std::string& member_id) {
  std::vector<Field> fields;
  Statement st = internal::SelectPortals(layout_, member_id, &fields);
  std::vector<Row> rows;
  absl::Status s = WithSession(absl::StrCat("reading portal ", member_id), true, {},
                               [&](soci::session& sql) { rows = internal::Query(sql, st, fields.size()); });
  if (!s.ok()) return s;
  if (rows.empty()) return std::optional<Row>();
  return std::optional<Row>(std::move(rows.front()));
}

absl::StatusOr<PortalRecord> SociTokenStore::Decode(const Row& row) {
  PortalRecord r;
  r.member_id = Cell(row, internal::kMemberId);
  r.domain = Cell(row, internal::kDomain);
  r.client_endpoint = Cell(row, internal::kClientEndpoint);
  r.server_endpoint = Cell(row, internal::kServerEndpoint);
  r.client_id = Cell(row, internal::kClientId);
  r.cas_token = Cell(row, internal::kRefreshToken);
  std::pair<std::string*, std::pair<Field, const char*>> secrets[] = {
      {&r.access_token, {internal::kAccessToken, kAccess}},
      {&r.refresh_token, {internal::kRefreshToken, kRefresh}},
      {&r.client_secret, {internal::kClientSecret, kSecret}},
      {&r.application_token, {internal::kApplicationToken, kAppToken}}};
  for (auto& [out, source] : secrets) {
    const std::string& stored = Cell(row, source.first);
    if (!IsEncryptedValue(stored)) {
      *out = stored;
      continue;
    }
    if (!options_.keyring) {
      return absl::FailedPreconditionError(
          absl::StrCat("portal ", r.member_id, ": ", source.second, " is encrypted with key '", KeyIdOf(stored),
                       "' but no encryption key is configured (store.encryption_key_env)"));
    }
    absl::StatusOr<std::string> plain = options_.keyring->Decrypt(stored, Context(r.member_id, source.second));
    if (!plain.ok()) {
      return absl::Status(plain.status().code(),
                          absl::StrCat("portal ", r.member_id, ": ", source.second, ": ", plain.status().message()));
    }
    *out = *std::move(plain);
  }
  int64_t n = 0;
  if (absl::SimpleAtoi(Cell(row, internal::kExpiresIn), &n)) r.expires_in = n;
  if (absl::SimpleAtoi(Cell(row, internal::kExpiresAt), &n)) r.expires_at = n;
  if (layout_.has(internal::kNeedsReinstall)) {
    r.needs_reinstall = absl::SimpleAtoi(Cell(row, internal::kNeedsReinstall), &n) && n != 0;
  } else {
    absl::MutexLock lock(&mu_);
    auto it = reinstall_marks_.find(r.member_id);
    r.needs_reinstall = it != reinstall_marks_.end() && it->second == r.cas_token;
  }
  return r;
}

absl::StatusOr<std::string> SociTokenStore::Seal(const std::string& member_id, const char* field,
                                                 const std::string& value) {
  if (!options_.keyring || value.empty()) return value;
  return options_.keyring->Encrypt(value, Context(member_id, field));
}

void SociTokenStore::ReencryptAppSecrets(const std::string& member_id, const Row& row, const PortalRecord& record) {
  const std::string& secret = Cell(row, internal::kClientSecret);
  const std::string& app = Cell(row, internal::kApplicationToken);
  auto stale = [&](const std::string& v) { return !v.empty() && !options_.keyring->IsCurrent(v); };
  if (!stale(secret) && !stale(app)) return;
  absl::StatusOr<std::string> new_secret = Seal(member_id, kSecret, record.client_secret);
  absl::StatusOr<std::string> new_app = Seal(member_id, kAppToken, record.application_token);
  if (!new_secret.ok() || !new_app.ok()) return;
  // Compare-and-swap on both columns: a concurrent Upsert wins. Best effort,
  // a failure only postpones the re-encryption to the next Get().
  Statement st =
      internal::UpdatePortal(layout_, {{internal::kClientSecret, *new_secret}, {internal::kApplicationToken, *new_app}},
                             member_id, {{internal::kClientSecret, secret}, {internal::kApplicationToken, app}});
  (void)Execute("re-encrypting", false, st, {record.client_secret, record.application_token});
}

absl::StatusOr<PortalRecord> SociTokenStore::Get(const std::string& member_id) {
  if (member_id.empty()) return absl::NotFoundError("empty member_id");
  absl::StatusOr<std::optional<Row>> row = ReadRow(member_id);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(NotFoundMessage(member_id));
  absl::StatusOr<PortalRecord> record = Decode(**row);
  if (record.ok() && options_.keyring) ReencryptAppSecrets(member_id, **row, *record);
  return record;
}

absl::StatusOr<std::vector<PortalRecord>> SociTokenStore::List() {
  std::vector<Field> fields;
  Statement st = internal::SelectPortals(layout_, "", &fields);
  std::vector<Row> rows;
  absl::Status s = WithSession("listing portals", true, {},
                               [&](soci::session& sql) { rows = internal::Query(sql, st, fields.size()); });
  if (!s.ok()) return s;
  std::vector<PortalRecord> out;
  for (const Row& row : rows) {
    absl::StatusOr<PortalRecord> r = Decode(row);
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  return out;
}

absl::Status SociTokenStore::Upsert(const PortalRecord& r) {
  if (r.member_id.empty()) return absl::InvalidArgumentError("a portal needs a member_id");
  absl::StatusOr<std::string> access = Seal(r.member_id, kAccess, r.access_token);
  absl::StatusOr<std::string> refresh = Seal(r.member_id, kRefresh, r.refresh_token);
  absl::StatusOr<std::string> secret = Seal(r.member_id, kSecret, r.client_secret);
  absl::StatusOr<std::string> app = Seal(r.member_id, kAppToken, r.application_token);
  for (const auto* s : {&access, &refresh, &secret, &app}) {
    if (!s->ok()) return s->status();
  }
  std::vector<std::pair<Field, Value>> values = {{internal::kMemberId, r.member_id},
                                                 {internal::kAccessToken, *access},
                                                 {internal::kExpiresIn, absl::StrCat(r.expires_in)},
                                                 {internal::kApplicationToken, *app},
                                                 {internal::kRefreshToken, *refresh},
                                                 {internal::kDomain, r.domain},
                                                 {internal::kClientEndpoint, r.client_endpoint},
                                                 {internal::kClientId, r.client_id},
                                                 {internal::kClientSecret, *secret}};
  auto extra = [&](Field f, Value v) {
    if (layout_.has(f)) values.emplace_back(f, std::move(v));
  };
  extra(internal::kExpiresAt, static_cast<long long>(r.expires_at));
  extra(internal::kServerEndpoint, r.server_endpoint);
  extra(internal::kNeedsReinstall, r.needs_reinstall ? 1LL : 0LL);
  extra(internal::kLeaseOwner, std::string());
  extra(internal::kLeaseUntil, 0LL);
  extra(internal::kUpdatedAt, static_cast<long long>(NowUnix()));
  extra(internal::kKeyId, options_.keyring ? options_.keyring->primary_id() : std::string());
  if (absl::Status s = CheckFits(layout_, values); !s.ok()) return s;
  absl::StatusOr<long long> n =
      Execute(absl::StrCat("saving portal ", r.member_id), true, internal::UpsertPortal(layout_, values),
              {r.access_token, r.refresh_token, r.client_secret, r.application_token});
  if (!n.ok()) return n.status();
  absl::MutexLock lock(&mu_);
  if (r.needs_reinstall && !layout_.has(internal::kNeedsReinstall)) {
    reinstall_marks_[r.member_id] = *refresh;
  } else {
    reinstall_marks_.erase(r.member_id);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SociTokenStore::Remove(const std::string& member_id) {
  absl::StatusOr<long long> n =
      Execute(absl::StrCat("removing portal ", member_id), false, internal::DeletePortal(layout_, member_id), {});
  if (!n.ok()) return n.status();
  absl::MutexLock lock(&mu_);
  reinstall_marks_.erase(member_id);
  return *n > 0;
}

absl::StatusOr<bool> SociTokenStore::TryLease(const std::string& member_id, const std::string& cas_token,
                                              const std::string& owner, int64_t until_unix, int64_t now_unix) {
  if (owner.empty() || owner.size() > kMaxChars) {
    return absl::InvalidArgumentError("a lease owner must be 1-255 characters");
  }
  if (layout_.has(internal::kLeaseOwner) && layout_.has(internal::kLeaseUntil)) {
    Statement st = internal::UpdatePortal(
        layout_, {{internal::kLeaseOwner, owner}, {internal::kLeaseUntil, static_cast<long long>(until_unix)}},
        member_id, {{internal::kRefreshToken, cas_token}}, internal::LeaseCondition{owner, now_unix});
    absl::StatusOr<long long> n =
        Execute(absl::StrCat("leasing the refresh of portal ", member_id), true, st, {cas_token});
    if (!n.ok()) return n.status();
    if (*n > 0) return true;
  }
  // Without lease columns, or nothing updated: tell "another owner holds it /
  // the token moved on" (false) from "no such portal" (NOT_FOUND). A driver
  // counting changed rather than matched rows reports 0 when this owner
  // already holds exactly this lease; that counts as claimed.
  absl::StatusOr<std::optional<Row>> row = ReadRow(member_id);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(NotFoundMessage(member_id));
  const Row& r = **row;
  if (Cell(r, internal::kRefreshToken) != cas_token) return false;
  if (!layout_.has(internal::kLeaseOwner) || !layout_.has(internal::kLeaseUntil)) return true;
  return Cell(r, internal::kLeaseOwner) == owner && Cell(r, internal::kLeaseUntil) == absl::StrCat(until_unix);
}

absl::StatusOr<bool> SociTokenStore::SwapTokens(const std::string& member_id, const std::string& cas_token,
                                                const TokenUpdate& u) {
  absl::StatusOr<std::string> access = Seal(member_id, kAccess, u.access_token);
  absl::StatusOr<std::string> refresh = Seal(member_id, kRefresh, u.refresh_token);
  if (!access.ok()) return access.status();
  if (!refresh.ok()) return refresh.status();
  std::vector<std::pair<Field, Value>> sets = {{internal::kAccessToken, *access},
                                               {internal::kRefreshToken, *refresh},
                                               {internal::kExpiresIn, absl::StrCat(u.expires_in)}};
  auto set = [&](Field f, Value v, bool wanted = true) {
    if (wanted && layout_.has(f)) sets.emplace_back(f, std::move(v));
  };
  set(internal::kExpiresAt, static_cast<long long>(u.expires_at));
  set(internal::kServerEndpoint, u.server_endpoint, !u.server_endpoint.empty());
  set(internal::kClientEndpoint, u.client_endpoint, !u.client_endpoint.empty());
  set(internal::kDomain, u.domain, !u.domain.empty());
  set(internal::kLeaseOwner, std::string());
  set(internal::kLeaseUntil, 0LL);
  set(internal::kNeedsReinstall, 0LL);
  set(internal::kUpdatedAt, static_cast<long long>(NowUnix()));
  set(internal::kKeyId, options_.keyring ? options_.keyring->primary_id() : std::string());
  if (absl::Status s = CheckFits(layout_, sets); !s.ok()) return s;
  Statement st = internal::UpdatePortal(layout_, sets, member_id, {{internal::kRefreshToken, cas_token}});
  // No retry: after a lost reply the row may hold our tokens already, and a
  // second attempt would report a lost race; the caller re-reads either way.
  absl::StatusOr<long long> n = Execute(absl::StrCat("saving new tokens of portal ", member_id), false, st,
                                        {u.access_token, u.refresh_token, cas_token});
  if (!n.ok()) return n.status();
  if (*n > 0) {
    absl::MutexLock lock(&mu_);
    reinstall_marks_.erase(member_id);
    return true;
  }
  absl::StatusOr<std::optional<Row>> row = ReadRow(member_id);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(NotFoundMessage(member_id));
  return false;
}

absl::Status SociTokenStore::MarkNeedsReinstall(const std::string& member_id, const std::string& cas_token) {
  if (layout_.has(internal::kNeedsReinstall)) {
    std::vector<std::pair<Field, Value>> sets = {{internal::kNeedsReinstall, 1LL}};
    if (layout_.has(internal::kUpdatedAt)) sets.emplace_back(internal::kUpdatedAt, static_cast<long long>(NowUnix()));
    Statement st = internal::UpdatePortal(layout_, sets, member_id, {{internal::kRefreshToken, cas_token}});
    absl::StatusOr<long long> n =
        Execute(absl::StrCat("marking portal ", member_id, " for reinstallation"), true, st, {cas_token});
    if (!n.ok()) return n.status();
    if (*n > 0) return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Row>> row = ReadRow(member_id);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(NotFoundMessage(member_id));
  if (!layout_.has(internal::kNeedsReinstall) && Cell(**row, internal::kRefreshToken) == cas_token) {
    absl::MutexLock lock(&mu_);
    reinstall_marks_[member_id] = cas_token;
  }
  return absl::OkStatus();  // or the token moved on: nothing left to mark
}

absl::Status SociTokenStore::Ping() {
  absl::Status s = WithSession("checking the token store", true, {}, [](soci::session& sql) {
    int one = 0;
    sql << "SELECT 1", soci::into(one);
  });
  if (s.ok() || absl::IsUnavailable(s)) return s;
  return absl::UnavailableError(s.message());
}

absl::Status SociTokenStore::UpdateDomain(const std::string& member_id, const std::string& domain,
                                          const std::string& client_endpoint) {
  std::vector<std::pair<Field, Value>> sets = {{internal::kDomain, domain},
                                               {internal::kClientEndpoint, client_endpoint}};
  if (layout_.has(internal::kUpdatedAt)) sets.emplace_back(internal::kUpdatedAt, static_cast<long long>(NowUnix()));
  if (absl::Status s = CheckFits(layout_, sets); !s.ok()) return s;
  absl::StatusOr<long long> n = Execute(absl::StrCat("renaming portal ", member_id), true,
                                        internal::UpdatePortal(layout_, sets, member_id, {}), {});
  if (!n.ok()) return n.status();
  if (*n > 0) return absl::OkStatus();
  absl::StatusOr<std::optional<Row>> row = ReadRow(member_id);  // 0 may mean "unchanged" on some drivers
  if (!row.ok()) return row.status();
  return row->has_value() ? absl::OkStatus() : absl::NotFoundError(NotFoundMessage(member_id));
}

}  // namespace b24::storage
