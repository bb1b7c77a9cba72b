// Internal to the emulator: EmulatorImpl, the state behind the public Emulator
// (emulator.h), and the few helpers its parts share. One class, one mutex; its
// member functions are defined by concern:
//   emulator.cc      lifecycle, portals (add, rename, configure), the public API
//   routing.cc       HTTP → portal and method, credentials, method calls, batch
//   oauth_server.cc  /oauth/token/, installations, token chains
//   faults.cc        the fault queue: matching, taking, applying
//   stats.cc         counters, the rejected list, EmulatorStats::ToJson
//
// Thread-safety: as emulator.h says. Members named ...Locked expect mu_ held;
// the HTTP handlers (HandlePortal, HandleOAuth) and the test-API methods take
// it themselves.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "tests/testing/emulator/emulator.h"
#include "tests/testing/emulator/limits.h"
#include "tests/testing/emulator/php.h"
#include "tests/testing/emulator/rest_methods.h"
#include "tests/testing/http_server.h"

namespace b24::testing {
namespace emulator_internal {

// JSON as the portal prints it (invalid UTF-8 replaced, never thrown).
std::string Dump(const Json& j);
void Answer(HttpServerResponse* resp, int status, const Json& body);
// The {"error","error_description"} answer of the portal and the OAuth server.
void ErrorAnswer(HttpServerResponse* resp, int status, const std::string& error, const std::string& description);
double UnixSeconds(absl::Time t);
// `chars` lower-case hex digits: tokens, member_ids, application tokens.
std::string HexToken(std::mt19937_64& rng, int chars);

// §1.3: query string, then the body (form, or JSON for POST application/json)
// replacing top-level keys. Malformed JSON is an empty parameter set.
Json RequestParams(const HttpServerRequest& req);
// A scalar parameter as PHP would print it; "" when absent or not a scalar.
std::string StringParam(const Json& params, absl::string_view name);

// §1.1 routes. `method` is lower-case without ".json"/".xml"; empty when the
// path is no REST route.
struct Route {
  std::string method;
  bool webhook = false;
  std::string user;
  std::string code;
};

}  // namespace emulator_internal

class EmulatorImpl {
 public:
  EmulatorImpl(Clock& clock, EmulatorOptions options)
      : clock_(clock), options_(std::move(options)), rng_(std::random_device{}()) {
    access_token_lifetime_ = options_.access_token_lifetime;
    for (auto& app : options_.apps) apps_[app.client_id] = app;
  }
  ~EmulatorImpl() { Stop(); }

  // emulator.cc
  absl::Status Start();
  void Stop();
  absl::StatusOr<PortalInfo> AddPortal(PortalOptions options);
  PortalInfo Info(int portal) const;
  absl::StatusOr<PortalInfo> RenamePortal(int portal);
  void ConfigurePortal(int portal, const std::function<void(PortalOptions&)>& edit);
  void AddWebhook(int portal, int64_t user_id, std::string code);
  void ResetLimits(int portal);
  int oauth_port() const;
  // oauth_server.cc
  void RegisterApp(AppOptions app);
  absl::StatusOr<Installation> Install(int portal, const std::string& client_id, int64_t user_id);
  absl::StatusOr<std::string> IssueAuthCode(int portal, const std::string& client_id, int64_t user_id);
  void Uninstall(int portal, const std::string& client_id);
  void ExpireAccessTokens(int portal);
  void SetAccessTokenLifetime(absl::Duration lifetime);
  // faults.cc
  void InjectFault(int portal, Fault fault);
  void ClearFaults();
  int PendingFaults() const;
  // stats.cc
  EmulatorStats Stats() const;
  void ResetStats();

 private:
  using Json = php::Json;
  using CallContext = emulator_internal::CallContext;
  using MethodResult = emulator_internal::MethodResult;
  using PortalData = emulator_internal::PortalData;
  using Route = emulator_internal::Route;

  struct Portal {
    int id = 0;
    PortalOptions options;
    std::string member_id;
    std::unique_ptr<PortalData> data;
    LeakyBucket bucket;
    std::map<std::pair<std::string, std::string>, OperatingBudget> budgets;  // (entity, method)
    std::vector<std::unique_ptr<HttpServer>> hosts;                          // back() is the current one
  };
  struct AccessToken {
    int portal;
    std::string client_id;
    int64_t user_id;
    absl::Time expires;
    bool revoked = false;
  };
  struct RefreshToken {
    int portal;
    std::string client_id;
    int64_t user_id;
    absl::Time expires;
    std::string access_token;  // issued together; dies when this is used
  };
  struct AuthCode {
    int portal;
    std::string client_id;
    int64_t user_id;
    absl::Time expires;
  };
  struct InstallRecord {
    std::string application_token;
    bool installed = true;
  };
  // Server time spent per method within one HTTP hit (§3.2).
  using Hit = std::map<std::string, absl::Duration>;
  struct CallOutcome {
    MethodResult r;
    Json time;
    absl::Duration cost;
  };
  struct AuthResult {
    MethodResult error;  // ok() when authenticated
    CallContext ctx;
  };

  // emulator.cc
  Portal* FindLocked(int portal) const {
    return portal >= 0 && portal < static_cast<int>(portals_.size()) ? portals_[portal].get() : nullptr;
  }
  PortalInfo InfoLocked(const Portal& p) const;
  absl::StatusOr<HttpServer*> StartHostLocked(Portal* p);
  // routing.cc
  void HandlePortal(Portal* p, size_t host, const HttpServerRequest& req, HttpServerResponse* resp);
  void HandleRest(Portal& p, const Route& route, const HttpServerRequest& req, absl::Time now,
                  HttpServerResponse* resp);
  AuthResult Authenticate(const Portal& p, const Route& route, const HttpServerRequest& req, const Json& params,
                          absl::Time now) const;
  CallOutcome Call(Portal& p, const CallContext& ctx, absl::Time start, const std::string& method, const Json& params,
                   Hit* hit);
  CallOutcome Batch(Portal& p, const CallContext& ctx, absl::Time start, const Json& params, Hit* hit);
  // oauth_server.cc
  void HandleOAuth(const HttpServerRequest& req, HttpServerResponse* resp);
  void TokenAnswer(const Json& params, const std::string& grant, absl::Time now, HttpServerResponse* resp);
  absl::Status EnsureInstalledLocked(int portal, const std::string& client_id);
  Installation IssueTokensLocked(int portal, const AppOptions& app, int64_t user_id, absl::Time now);
  // faults.cc
  std::optional<Fault> TakeFaultLocked(int portal, const std::string& method, bool in_batch);
  // Applies the next matching fault to an HTTP request. True when the fault is
  // the whole answer; *drop_after asks to drop the connection after answering.
  bool ApplyFaultLocked(int portal, const std::string& method, HttpServerResponse* resp, bool* drop_after);
  // POST <portal>/emulator/faults with a JSON fault queues it for this portal;
  // DELETE clears every fault. For tests in other processes (b24-emulator).
  void HandleFaultControlLocked(int portal, const HttpServerRequest& req, HttpServerResponse* resp);
  // stats.cc
  void RejectLocked(int portal, const std::string& method, int status, const std::string& error, bool in_batch);
  // The counters with the rejected list, as Stats() and GET /emulator/stats show them.
  EmulatorStats StatsLocked() const;

  Clock& clock_;
  const EmulatorOptions options_;
  mutable std::mutex mu_;
  bool stopped_ = false;
  std::unique_ptr<HttpServer> oauth_server_;
  std::vector<std::unique_ptr<Portal>> portals_;
  std::mt19937_64 rng_;
  absl::Duration access_token_lifetime_;
  std::map<std::string, AppOptions> apps_;
  std::map<std::pair<int, std::string>, InstallRecord> installs_;
  std::map<std::string, AccessToken> access_tokens_;
  std::map<std::string, RefreshToken> refresh_tokens_;
  std::map<std::string, AuthCode> auth_codes_;
  std::deque<std::pair<int, Fault>> faults_;
  EmulatorStats stats_;
  std::deque<RejectedRequest> rejected_;
};

}  // namespace b24::testing
