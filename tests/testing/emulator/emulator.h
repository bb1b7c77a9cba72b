// Emulator: fake Bitrix24 cloud portals and their OAuth server, spoken to over
// real HTTP on 127.0.0.1. Every integration test and benchmark talks to it
// instead of a real portal. Section numbers (§) refer to /work/shared/PROTOCOL.md.
//
// Each portal listens on its own port: its domain is "127.0.0.1:<port>", its
// client_endpoint "http://127.0.0.1:<port>/rest/". One OAuth server listens on
// another port and serves /oauth/token/ (§6); its server_endpoint is
// "http://127.0.0.1:<port>/rest/".
//
// A portal serves the classic REST v2 routes (§1.1: /rest/{method},
// /rest/{user}/{code}/{method}, optional ".json" and trailing "/"), merges query,
// form and JSON parameters like PHP (§1.3), checks webhook and OAuth
// credentials (§1.2), answers in the §1.5/§1.6 envelopes and implements
// crm.deal.{list,get,add,update,delete}, crm.contact.{list,get,add,update,
// delete}, crm.item.list, tasks.task.list, app.info, profile, server.time and
// batch (§4). Seeded rows are generated from the ID, so a million deals are
// free (see entity_store.h).
//
// Limits (§3.4) use the injected Clock, never real time: the per-portal leaky
// bucket (503 QUERY_LIMIT_EXCEEDED) and the per (portal, webhook-or-app, method)
// operating budget (429 OPERATION_TIME_LIMIT). The server time of a call is not
// measured but computed by CostModel, reported in `time` and charged to the
// budget; so a test with a FakeClock sees exact, repeatable numbers.
//
// Tests can rename a portal (old host answers 302, §1.8), inject faults into the
// next matching requests (5xx JSON, HTML, empty body, dropped connection before
// or after executing, slow answer), and read counters (Stats(), also served at
// GET /emulator/stats on every portal port).
//
// Typical use:
//   b24::testing::FakeClock clock;
//   b24::testing::Emulator emu(clock, {.apps = {{"local.app.1", "secret"}}});
//   ASSERT_TRUE(emu.Start().ok());
//   b24::testing::PortalOptions o;
//   o.seed.deals = 1'000'000;
//   o.webhooks = {{1, "code"}};
//   auto portal = emu.AddPortal(o);                  // portal->WebhookUrl(1, "code")
//   auto inst = emu.Install(portal->id, "local.app.1");  // tokens for OAuth calls
//   emu.InjectFault(portal->id, b24::testing::Fault::Html(502));
//   clock.Advance(absl::Seconds(1));                 // drains the leaky bucket
//   EXPECT_EQ(emu.Stats().portals[portal->id].requests_by_method["crm.deal.list"], 3);
//
// Thread-safety: all methods are thread-safe; requests are served concurrently
// on connection threads. State is guarded by one mutex that is never held while
// sleeping, so a slow or dropped answer does not stall other requests.
// Destruction stops every server first.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/common/clock.h"

namespace b24::testing {

// Server time of one method call (§3.4 "server-time model"): per_request +
// per_item × rows returned + (list with start ≥ 0 ? per_count_row × matching
// rows : 0). Realistic values: 50 ms, 1 ms, 21 µs.
struct CostModel {
  absl::Duration per_request = absl::ZeroDuration();
  absl::Duration per_item = absl::ZeroDuration();
  absl::Duration per_count_row = absl::ZeroDuration();
};

// Leaky bucket per portal (§3.1): Enterprise would be 250 / 5.
struct RateLimitOptions {
  bool enabled = true;
  double burst = 50;
  double drain_per_second = 2;
};

// Operating budget per (portal, webhook-or-app, method) (§3.2).
struct OperatingLimitOptions {
  bool enabled = true;
  absl::Duration limit = absl::Seconds(480);                // 429 when used > limit
  absl::Duration minimal_charge = absl::Milliseconds(100);  // cheaper hits are free
  absl::Duration bucket_size = absl::Seconds(60);
  int bucket_count = 10;
};

struct SeedCounts {
  int64_t deals = 0;
  int64_t contacts = 0;
  int64_t crm_items = 0;  // per entityTypeId, for every entityTypeId > 0
  int64_t tasks = 0;
};

struct WebhookOptions {
  int64_t user_id = 1;
  std::string code;
};

struct PortalOptions {
  int port = 0;           // 0 = ephemeral
  std::string member_id;  // 32 hex; "" = derived from the portal id
  SeedCounts seed;        // read once by AddPortal()
  std::vector<WebhookOptions> webhooks;
  RateLimitOptions rate_limit;
  OperatingLimitOptions operating;
  CostModel cost;
  absl::Duration latency = absl::ZeroDuration();  // real sleep before every answer
  std::set<std::string> denied_methods;           // lower-case; → 403 ACCESS_DENIED
  int64_t page_size = 50;
  std::string license = "en_project";      // app.info LICENSE
  std::string license_family = "project";  // "ent" for Enterprise
};

struct AppOptions {
  std::string client_id;  // e.g. "local.64f0c0a1b2c3d4.12345678"
  std::string client_secret;
  std::string scope = "crm,task,user";
  std::string status = "L";  // §6.3: L, F, D, T, P, S
};

struct EmulatorOptions {
  int oauth_port = 0;
  absl::Duration access_token_lifetime = absl::Seconds(3600);
  absl::Duration refresh_token_lifetime = absl::Hours(180 * 24);
  absl::Duration auth_code_lifetime = absl::Seconds(30);
  absl::Duration oauth_latency = absl::ZeroDuration();  // real sleep per token request
  std::vector<AppOptions> apps;
};

struct PortalInfo {
  int id = -1;  // handle for the Emulator methods below
  int port = 0;
  std::string domain;           // "127.0.0.1:P"
  std::string base_url;         // "http://127.0.0.1:P/"
  std::string client_endpoint;  // "http://127.0.0.1:P/rest/"
  std::string member_id;
  // "http://127.0.0.1:P/rest/<user_id>/<code>/"
  std::string WebhookUrl(int64_t user_id, absl::string_view code) const;
};

// What an app learns on installation (§7.1 AUTH_ID, REFRESH_ID, ...).
struct Installation {
  std::string access_token;
  std::string refresh_token;
  absl::Time expires;  // of the access token
  std::string member_id;
  std::string application_token;  // constant per (portal, app)
  std::string domain;             // portal host
  std::string client_endpoint;
  std::string server_endpoint;
  std::string scope;
  std::string status;
  int64_t user_id = 0;
};

// One fault, applied to the next `count` requests that match it. `method`
// matches the REST method of the HTTP request ("batch" for a batch; for the
// OAuth server: the grant_type); "" matches any. A kJsonError with a non-empty
// method also matches sub-commands inside a batch, where it becomes that
// command's result_error entry.
struct Fault {
  enum class Kind {
    kJsonError,          // {"error","error_description"} with `status`; nothing runs
    kRawBody,            // `body` (HTML or "") with `status`; nothing runs
    kDropBeforeExecute,  // close the socket, nothing runs
    kDropAfterExecute,   // run the call (state changes!), then close the socket
    kDelay,              // sleep `delay` for real, then answer normally
  };
  Kind kind = Kind::kJsonError;
  std::string method;
  int count = 1;
  int status = 500;
  std::string error = "INTERNAL_SERVER_ERROR";
  std::string error_description = "Internal server error";
  std::string body;
  absl::Duration delay = absl::ZeroDuration();

  static Fault JsonError(int status, std::string error, std::string description, std::string method = "");
  static Fault Html(int status, std::string body = "<html>Bad Gateway</html>", std::string method = "");
  static Fault EmptyBody(int status, std::string method = "");
  static Fault DropBeforeExecute(std::string method = "");
  static Fault DropAfterExecute(std::string method = "");
  static Fault Slow(absl::Duration delay, std::string method = "");
  Fault& Times(int n) {
    count = n;
    return *this;
  }
};

struct PortalStats {
  int64_t http_requests = 0;  // every HTTP request to any host of the portal
  // Calls of a known method that reached the REST layer (not answered by a
  // redirect or an injected fault), whatever their outcome (503, 401, 429, ...);
  // batch counts as "batch" and each of its sub-commands under its own method.
  std::map<std::string, int64_t> requests_by_method;
  // Calls whose method handler actually ran (so state may have changed).
  std::map<std::string, int64_t> executed_by_method;
  int64_t query_limit_exceeded = 0;  // 503s
  int64_t operation_time_limit = 0;  // 429s, including batch sub-commands
  int64_t redirects = 0;             // 302s from a renamed host
  int64_t faults = 0;                // injected faults applied
};

// A request answered with an error (or dropped): HTTP errors, batch sub-command
// errors (in_batch), faults, OAuth errors (portal == Emulator::kOAuthServer).
struct RejectedRequest {
  int portal = 0;
  std::string method;   // OAuth: grant_type
  int http_status = 0;  // 0 = connection dropped
  std::string error;
  bool in_batch = false;
  absl::Time at;
};

struct EmulatorStats {
  std::map<int, PortalStats> portals;
  int64_t oauth_requests = 0;
  int64_t oauth_refresh_requests = 0;  // grant_type=refresh_token
  int64_t oauth_code_requests = 0;     // grant_type=authorization_code
  int64_t oauth_invalid_grant = 0;
  std::vector<RejectedRequest> rejected;  // oldest first, last 10000 kept
  std::string ToJson() const;
};

class EmulatorImpl;

class Emulator {
 public:
  static constexpr int kOAuthServer = -1;  // portal id for OAuth-server faults

  // `clock` must outlive the emulator.
  explicit Emulator(Clock& clock, EmulatorOptions options = {});
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // Binds the OAuth server. UNAVAILABLE if the port cannot be bound.
  absl::Status Start();
  // Stops all servers (idempotent).
  void Stop();

  // Starts a portal on options.port. UNAVAILABLE if it cannot be bound.
  absl::StatusOr<PortalInfo> AddPortal(PortalOptions options = {});
  // Current host of the portal; id -1 for an unknown portal.
  PortalInfo portal(int portal) const;
  // §1.8: moves the portal (data, tokens, member_id) to a new port; every
  // request to any old host answers 302 with Location = new host + same target.
  absl::StatusOr<PortalInfo> RenamePortal(int portal);
  // Changes options of a running portal (all but port, member_id and seed).
  void ConfigurePortal(int portal, const std::function<void(PortalOptions&)>& edit);
  void AddWebhook(int portal, int64_t user_id, std::string code);
  // Empties the portal's leaky bucket and operating budgets.
  void ResetLimits(int portal);

  int oauth_port() const;
  std::string oauth_token_url() const;        // "http://127.0.0.1:O/oauth/token/"
  std::string oauth_server_endpoint() const;  // "http://127.0.0.1:O/rest/"

  void RegisterApp(AppOptions app);
  // Installs (or re-opens) the app on the portal for `user_id` and starts a new
  // token chain. NOT_FOUND for an unknown portal or client_id.
  absl::StatusOr<Installation> Install(int portal, const std::string& client_id, int64_t user_id = 1);
  // An authorization code (§6.2) valid for auth_code_lifetime; installs the app.
  absl::StatusOr<std::string> IssueAuthCode(int portal, const std::string& client_id, int64_t user_id = 1);
  // Uninstalls: every token of the app on the portal becomes invalid_token and
  // refresh answers invalid_grant.
  void Uninstall(int portal, const std::string& client_id);
  // Every live access token of the portal expires now (→ 401 expired_token).
  void ExpireAccessTokens(int portal);
  // Lifetime of access tokens issued from now on.
  void SetAccessTokenLifetime(absl::Duration lifetime);

  // Queues a fault for `portal` (or kOAuthServer); faults apply in FIFO order.
  void InjectFault(int portal, Fault fault);
  void ClearFaults();
  int PendingFaults() const;

  EmulatorStats Stats() const;
  void ResetStats();

 private:
  std::unique_ptr<EmulatorImpl> impl_;
};

}  // namespace b24::testing
