#include "tests/testing/fake_token_store.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace b24::testing {
namespace {

// Same limit and message as SociTokenStore: the lease owner column is VARCHAR(255).
constexpr size_t kMaxOwnerChars = 255;

absl::Status NotFound(const std::string& member_id) {
  return absl::NotFoundError(absl::StrCat("no portal with member_id ", member_id, " is installed"));
}

}  // namespace

storage::PortalRecord FakeTokenStore::Read(const Row& row) {
  storage::PortalRecord r = row.record;
  r.cas_token = r.refresh_token;
  return r;
}

absl::StatusOr<storage::PortalRecord> FakeTokenStore::Get(const std::string& member_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = rows_.find(member_id);
  if (it == rows_.end()) return NotFound(member_id);
  return Read(it->second);
}

absl::StatusOr<std::vector<storage::PortalRecord>> FakeTokenStore::List() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<storage::PortalRecord> out;
  out.reserve(rows_.size());
  for (const auto& [member_id, row] : rows_) out.push_back(Read(row));
  return out;
}

absl::Status FakeTokenStore::Upsert(const storage::PortalRecord& record) {
  if (record.member_id.empty()) return absl::InvalidArgumentError("a portal needs a member_id");
  std::lock_guard<std::mutex> lock(mu_);
  Row row;
  row.record = record;
  row.record.cas_token.clear();
  rows_[record.member_id] = std::move(row);
  return absl::OkStatus();
}

absl::StatusOr<bool> FakeTokenStore::Remove(const std::string& member_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return rows_.erase(member_id) > 0;
}

absl::StatusOr<bool> FakeTokenStore::TryLease(const std::string& member_id, const std::string& cas_token,
                                              const std::string& owner, int64_t until_unix, int64_t now_unix) {
  if (owner.empty() || owner.size() > kMaxOwnerChars) {
    return absl::InvalidArgumentError("a lease owner must be 1-255 characters");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = rows_.find(member_id);
  if (it == rows_.end()) return NotFound(member_id);
  Row& row = it->second;
  if (row.record.refresh_token != cas_token) return false;
  bool claimable = row.lease_owner.empty() || row.lease_owner == owner || row.lease_until <= now_unix;
  if (!claimable) return false;
  row.lease_owner = owner;
  row.lease_until = until_unix;
  return true;
}

absl::StatusOr<bool> FakeTokenStore::SwapTokens(const std::string& member_id, const std::string& cas_token,
                                                const storage::TokenUpdate& update) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = rows_.find(member_id);
  if (it == rows_.end()) return NotFound(member_id);
  Row& row = it->second;
  if (row.record.refresh_token != cas_token) return false;
  storage::PortalRecord& r = row.record;
  r.access_token = update.access_token;
  r.refresh_token = update.refresh_token;
  r.expires_in = update.expires_in;
  r.expires_at = update.expires_at;
  if (!update.server_endpoint.empty()) r.server_endpoint = update.server_endpoint;
  if (!update.client_endpoint.empty()) r.client_endpoint = update.client_endpoint;
  if (!update.domain.empty()) r.domain = update.domain;
  r.needs_reinstall = false;
  row.lease_owner.clear();
  row.lease_until = 0;
  return true;
}

absl::Status FakeTokenStore::MarkNeedsReinstall(const std::string& member_id, const std::string& cas_token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = rows_.find(member_id);
  if (it == rows_.end()) return NotFound(member_id);
  // A token that moved on was replaced by a working one: nothing left to mark.
  if (it->second.record.refresh_token == cas_token) it->second.record.needs_reinstall = true;
  return absl::OkStatus();
}

absl::Status FakeTokenStore::UpdateDomain(const std::string& member_id, const std::string& domain,
                                          const std::string& client_endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = rows_.find(member_id);
  if (it == rows_.end()) return NotFound(member_id);
  it->second.record.domain = domain;
  it->second.record.client_endpoint = client_endpoint;
  return absl::OkStatus();
}

std::string FakeTokenStore::LeaseOwner(const std::string& member_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = rows_.find(member_id);
  return it == rows_.end() ? std::string() : it->second.lease_owner;
}

absl::Status FakeTokenStore::Ping() {
  std::lock_guard<std::mutex> lock(mu_);
  return ping_status_;
}

void FakeTokenStore::SetPingStatus(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  ping_status_ = std::move(status);
}

}  // namespace b24::testing
