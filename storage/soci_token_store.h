// SociTokenStore: the TokenStore on SOCI — SQLite, PostgreSQL, MySQL/MariaDB,
// and ODBC (PostgreSQL, MySQL or SQL Server behind the driver).
//
// Table: the seed table of simple-api-bitrix24 under configurable names
// (StoreColumns), plus the optional b24_ columns of schema.h. Open() reads
// which columns exist and degrades without the optional ones
// (docs/storage.md):
//   b24_expires_at missing        → PortalRecord::expires_at is 0 (unknown);
//   b24_server_endpoint missing   → server_endpoint is "" (configured default);
//   b24_needs_reinstall missing   → the mark is kept in this process only;
//   b24_refresh_lease_* missing   → TryLease claims whenever the stored
//                                   refresh token still equals cas_token;
//   b24_updated_at, b24_key_id    → not written.
// Seed columns are VARCHAR(255) NOT NULL: "" is written for "no value", and
// a value longer than 255 characters (after encryption) is INVALID_ARGUMENT
// instead of being truncated by the database.
//
// Encryption: with a Keyring, access_token, refresh_token, client_secret and
// application_token are stored encrypted (crypto.h); plaintext rows still
// read. Get() re-encrypts a row's client_secret and application_token under
// the primary key when they are plaintext or under an older key (tokens are
// re-encrypted by every refresh), so old keys can be retired.
//
// Errors as in token_store.h, plus INVALID_ARGUMENT for bad options or
// over-long values, and FAILED_PRECONDITION / DATA_LOSS when a stored value
// cannot be decrypted with the configured keys.
//
// Thread-safety: all methods may be called concurrently; each call leases one
// connection of the pool (waiting while all `pool_size` are busy). A
// connection found broken is reopened; reads and idempotent writes are then
// retried once, SwapTokens and Remove return UNAVAILABLE instead.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/status/statusor.h"
#include "storage/store_options.h"
#include "storage/crypto.h"
#include "storage/schema.h"
#include "storage/token_sql.h"
#include "storage/token_store.h"

namespace soci {
class connection_pool;
class session;
}  // namespace soci

namespace b24::storage {

class SociTokenStore final : public TokenStore {
 public:
  // Connects `pool_size` sessions, finds the dialect and the table's columns.
  // UNAVAILABLE when the database cannot be reached (the message names the
  // connection string with its password redacted); FAILED_PRECONDITION when
  // the table or a seed column is missing (naming `schema init` or the
  // store.column.* key); INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<SociTokenStore>> Open(const StoreOptions& options);
  ~SociTokenStore() override;

  absl::StatusOr<PortalRecord> Get(const std::string& member_id) override;
  absl::StatusOr<std::vector<PortalRecord>> List() override;
  absl::Status Upsert(const PortalRecord& record) override;
  absl::StatusOr<bool> Remove(const std::string& member_id) override;
  absl::StatusOr<bool> TryLease(const std::string& member_id, const std::string& cas_token, const std::string& owner,
                                int64_t until_unix, int64_t now_unix) override;
  absl::StatusOr<bool> SwapTokens(const std::string& member_id, const std::string& cas_token,
                                  const TokenUpdate& update) override;
  absl::Status MarkNeedsReinstall(const std::string& member_id, const std::string& cas_token) override;
  absl::Status UpdateDomain(const std::string& member_id, const std::string& domain,
                            const std::string& client_endpoint) override;
  absl::Status Ping() override;

  Dialect dialect() const { return layout_.dialect; }
  // The optional b24_ columns the table lacks (empty once migrated), for a
  // startup warning; ExtraColumns() says what each one's absence costs.
  std::vector<std::string> missing_columns() const;

 private:
  using Row = std::vector<std::string>;
  SociTokenStore(StoreOptions options, std::unique_ptr<soci::connection_pool> pool, internal::Layout layout);

  // Runs `fn` on a leased connection; maps exceptions to a Status whose
  // message starts with `what` and never contains `secrets`.
  absl::Status WithSession(const std::string& what, bool retry, const std::vector<std::string>& secrets,
                           const std::function<void(soci::session&)>& fn);
  // The stored row of `member_id` in `fields_` order; nullopt when absent.
  absl::StatusOr<std::optional<Row>> ReadRow(const std::string& member_id);
  absl::StatusOr<PortalRecord> Decode(const Row& row);
  absl::StatusOr<std::string> Seal(const std::string& member_id, const char* field, const std::string& value);
  const std::string& Cell(const Row& row, internal::Field f) const;
  absl::StatusOr<long long> Execute(const std::string& what, bool retry, const internal::Statement& st,
                                    const std::vector<std::string>& secrets);
  void ReencryptAppSecrets(const std::string& member_id, const Row& row, const PortalRecord& record);
  int64_t NowUnix() const;

  const StoreOptions options_;
  const std::unique_ptr<soci::connection_pool> pool_;
  const internal::Layout layout_;
  std::vector<internal::Field> fields_;  // the SELECT's columns
  std::vector<int> index_;               // Field → position in a Row, -1 absent
  // Without b24_needs_reinstall: member_id → the refresh token (as stored)
  // that the OAuth server rejected.
  absl::Mutex mu_;
  std::map<std::string, std::string> reinstall_marks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace b24::storage
