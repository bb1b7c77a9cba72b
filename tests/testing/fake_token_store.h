// FakeTokenStore: the TokenStore (storage/token_store.h) in memory, for tests
// that need installed portals but no database. It passes the same contract
// suite as the SOCI backends (tests/integration/storage/
// token_store_contract_test.cc) and behaves like a SOCI store on a table with
// every optional column:
//   - Get/List return copies; List is ordered by member_id (byte order).
//     `cas_token` is the refresh token (nothing is encrypted here).
//   - Upsert replaces every field, needs_reinstall included, and drops any
//     lease; the `cas_token` it is given is ignored.
//   - TryLease claims when the refresh token equals `cas_token` (byte for
//     byte) and the row has no lease, a lease of the same owner, or one whose
//     until is <= now. SwapTokens writes the pair under the same comparison,
//     keeps domain, client_endpoint and server_endpoint when the update's are
//     "", and clears the lease and the reinstall mark. MarkNeedsReinstall does
//     nothing (and succeeds) when the refresh token has moved on.
//   - No length limits: values the SOCI seed columns would refuse (over 255
//     characters) are stored.
//
// Status codes (the SOCI store's, less the database ones):
//   Get                 NOT_FOUND for an unknown (or empty) member_id
//   List                always OK
//   Upsert              INVALID_ARGUMENT for an empty member_id
//   Remove              OK; false when there was no such portal
//   TryLease            INVALID_ARGUMENT for an owner that is empty or longer
//                       than 255 characters, then NOT_FOUND for an unknown portal
//   SwapTokens, MarkNeedsReinstall, UpdateDomain
//                       NOT_FOUND for an unknown portal
//
// Thread-safety: every method may be called from any thread concurrently; one
// mutex serialises them, so each call is atomic, as one SQL statement is.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/token_store.h"

namespace b24::testing {

class FakeTokenStore final : public storage::TokenStore {
 public:
  absl::StatusOr<storage::PortalRecord> Get(const std::string& member_id) override;
  absl::StatusOr<std::vector<storage::PortalRecord>> List() override;
  absl::Status Upsert(const storage::PortalRecord& record) override;
  absl::StatusOr<bool> Remove(const std::string& member_id) override;
  absl::StatusOr<bool> TryLease(const std::string& member_id, const std::string& cas_token, const std::string& owner,
                                int64_t until_unix, int64_t now_unix) override;
  absl::StatusOr<bool> SwapTokens(const std::string& member_id, const std::string& cas_token,
                                  const storage::TokenUpdate& update) override;
  absl::Status MarkNeedsReinstall(const std::string& member_id, const std::string& cas_token) override;
  absl::Status UpdateDomain(const std::string& member_id, const std::string& domain,
                            const std::string& client_endpoint) override;
  // What Ping() answers: OK unless a test sets a failure.
  absl::Status Ping() override;
  void SetPingStatus(absl::Status status);

  // Who holds the refresh lease of `member_id` ("" when nobody, after a swap
  // or an Upsert, or for an unknown portal) — what the SOCI store keeps in
  // b24_refresh_lease_owner, for tests to look at.
  std::string LeaseOwner(const std::string& member_id) const;

 private:
  struct Row {
    storage::PortalRecord record;  // cas_token unset; Get() fills it in
    std::string lease_owner;       // "" = no lease
    int64_t lease_until = 0;
  };

  static storage::PortalRecord Read(const Row& row);

  mutable std::mutex mu_;
  absl::Status ping_status_;
  std::map<std::string, Row> rows_;  // by member_id
};

}  // namespace b24::testing
