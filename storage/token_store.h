// TokenStore: where installed portals (member_id → OAuth tokens and app
// credentials) live, shared by every process of a deployment.
//
// The SOCI implementation (soci_token_store.h) serves SQLite, PostgreSQL,
// MySQL/MariaDB and ODBC with configurable table and column names; tests use
// the same contract suite against every backend.
//
// Refresh tokens are single-use, so writers coordinate through the row:
//   - TryLease() claims the right to refresh a portal for a while; only the
//     holder calls the OAuth server, everybody else re-reads the row.
//   - SwapTokens() writes the new pair only if the stored refresh token is
//     still the one the writer started from (compare-and-swap); a loser gets
//     false and must re-read instead of refreshing again.
// Every write is one UPDATE/INSERT statement, so a crash never leaves a
// half-written row.
//
// Errors: NOT_FOUND for an unknown member_id; UNAVAILABLE when the database
// cannot be reached; FAILED_PRECONDITION when the schema lacks what an
// operation needs (the message names the `schema migrate` command);
// INTERNAL for anything else SOCI reports. Secrets never appear in messages.
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace b24::storage {

struct PortalRecord {
  std::string member_id;
  std::string domain;           // portal host, e.g. "example.bitrix24.com"
  std::string client_endpoint;  // "https://example.bitrix24.com/rest/"
  std::string server_endpoint;  // OAuth server REST URL ("" = configured default)
  std::string client_id;
  std::string client_secret;  // plaintext here; encrypted at rest when configured
  std::string access_token;
  std::string refresh_token;
  std::string application_token;
  int64_t expires_in = 3600;     // lifetime Bitrix24 announced (seed column)
  int64_t expires_at = 0;        // unix seconds; 0 = unknown (table without the column)
  bool needs_reinstall = false;  // the OAuth server rejected the refresh token
  // Set by Get/List: the refresh_token column exactly as stored (ciphertext
  // when encrypted). Pass it back to TryLease/SwapTokens/MarkNeedsReinstall.
  std::string cas_token;
};

struct TokenUpdate {
  std::string access_token;
  std::string refresh_token;
  int64_t expires_in = 3600;
  int64_t expires_at = 0;
  std::string server_endpoint;  // "" = keep
  std::string client_endpoint;  // "" = keep
  std::string domain;           // "" = keep
};

class TokenStore {
 public:
  virtual ~TokenStore() = default;

  virtual absl::StatusOr<PortalRecord> Get(const std::string& member_id) = 0;
  virtual absl::StatusOr<std::vector<PortalRecord>> List() = 0;
  // Inserts the portal or replaces every field of an existing row (installation).
  virtual absl::Status Upsert(const PortalRecord& record) = 0;
  // Returns false when no such portal existed.
  virtual absl::StatusOr<bool> Remove(const std::string& member_id) = 0;

  // Claims the refresh of `member_id` for `owner` until `until_unix` if the
  // stored refresh token still equals `cas_token` and no live lease of another
  // owner exists. Returns true when claimed. A table without the lease columns
  // (single-process deployments) claims whenever the refresh token still matches.
  virtual absl::StatusOr<bool> TryLease(const std::string& member_id, const std::string& cas_token,
                                        const std::string& owner, int64_t until_unix, int64_t now_unix) = 0;
  // Writes `update` iff the stored refresh token equals `cas_token`; clears
  // the lease and the reinstall mark. Returns false when another writer won.
  virtual absl::StatusOr<bool> SwapTokens(const std::string& member_id, const std::string& cas_token,
                                          const TokenUpdate& update) = 0;
  // Marks the portal as needing reinstallation (tokens are kept), iff the
  // stored refresh token still equals `cas_token`.
  virtual absl::Status MarkNeedsReinstall(const std::string& member_id, const std::string& cas_token) = 0;
  // Records a portal rename (302) for every later call.
  virtual absl::Status UpdateDomain(const std::string& member_id, const std::string& domain,
                                    const std::string& client_endpoint) = 0;
  // OK when the database answers a trivial query (health checks);
  // UNAVAILABLE, naming the cause, when it cannot be reached.
  virtual absl::Status Ping() = 0;
};

}  // namespace b24::storage
