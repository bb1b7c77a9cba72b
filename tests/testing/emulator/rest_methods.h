// Internal to the emulator: the data of one portal and the REST method handlers
// that read and change it (everything except batch, which lives in
// routing.cc because it re-enters the limits). Handlers see parameters after
// parameter merge and authentication; they know nothing of HTTP, limits or
// costs, but report how many rows they returned and counted so the emulator can
// price the call (CostModel).
//
// Not thread-safe; the emulator calls these under its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/testing/emulator/emulator.h"
#include "tests/testing/emulator/entity_store.h"
#include "tests/testing/emulator/php.h"

namespace b24::testing::emulator_internal {

using Json = php::Json;

// Who is calling, as established by authentication.
struct CallContext {
  std::string entity;      // operating-budget key: "webhook:<user>:<code>" or "app:<client_id>"
  std::string client_id;   // "" for webhooks
  std::string app_status;  // §6.3 status, apps only
  std::string scope;
  int64_t user_id = 0;
};

struct MethodResult {
  int status = 200;  // anything else is an error answer
  std::string error;
  std::string error_description;
  Json result;
  std::optional<int64_t> total;
  std::optional<int64_t> next;
  int64_t items = 0;       // rows returned (CostModel::per_item)
  int64_t count_rows = 0;  // rows counted for `total` (CostModel::per_count_row)

  bool ok() const { return status == 200; }
  static MethodResult Error(int status, std::string error, std::string description);
};

class PortalData {
 public:
  explicit PortalData(const SeedCounts& seed);
  EntityStore deals;
  EntityStore contacts;
  EntityStore tasks;
  EntityStore& Items(int64_t entity_type_id);  // created on first use

 private:
  int64_t seeded_items_;
  std::map<int64_t, EntityStore> items_;
};

// True for every method the emulator serves, "batch" included. `method` is
// lower-case.
bool IsKnownMethod(absl::string_view method);

// Runs a known method other than batch.
MethodResult RunMethod(PortalData& data, const PortalOptions& options, const std::string& method,
                       const CallContext& ctx, const Json& params, absl::Time now);

// Case-insensitive lookup of a top-level parameter (Bitrix upper-cases the
// parameter names of classic methods); nullptr when absent.
const Json* Param(const Json& params, absl::string_view name);

// PHP date('c') in UTC: "2024-01-01T00:00:00+00:00".
std::string IsoTime(absl::Time t);

}  // namespace b24::testing::emulator_internal
