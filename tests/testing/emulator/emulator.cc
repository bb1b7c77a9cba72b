#include "tests/testing/emulator/emulator.h"

#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/testing/emulator/batch.h"
#include "tests/testing/emulator/limits.h"
#include "tests/testing/emulator/php.h"
#include "tests/testing/emulator/rest_methods.h"
#include "tests/testing/http_server.h"

namespace b24::testing {

using emulator_internal::CallContext;
using emulator_internal::IsKnownMethod;
using emulator_internal::IsoTime;
using emulator_internal::MethodResult;
using emulator_internal::Param;
using emulator_internal::PortalData;
using Json = php::Json;

namespace {

constexpr size_t kMaxRejected = 10000;
constexpr int kBatchMaxLength = 50;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void Answer(HttpServerResponse* resp, int status, const Json& body) {
  resp->status = status;
  resp->headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  resp->body = Dump(body);
}

void ErrorAnswer(HttpServerResponse* resp, int status, const std::string& error,
                 const std::string& description) {
  Answer(resp, status, Json{{"error", error}, {"error_description", description}});
}

double UnixSeconds(absl::Time t) { return static_cast<double>(absl::ToUnixMicros(t)) / 1e6; }

// The §1.5 `time` object.
Json TimeJson(absl::Time start, absl::Duration duration, absl::Duration operating,
              absl::Time reset_at) {
  absl::Time finish = start + duration;
  return Json{{"start", UnixSeconds(start)},
              {"finish", UnixSeconds(finish)},
              {"duration", absl::ToDoubleSeconds(duration)},
              {"processing", absl::ToDoubleSeconds(duration)},
              {"date_start", IsoTime(start)},
              {"date_finish", IsoTime(finish)},
              {"operating", absl::ToDoubleSeconds(operating)},
              {"operating_reset_at", absl::ToUnixSeconds(reset_at)}};
}

// §1.3: query string, then the body (form, or JSON for POST application/json)
// replacing top-level keys. Malformed JSON is an empty parameter set.
Json RequestParams(const HttpServerRequest& req) {
  Json params = AsPhpObject(php::ParseStr(req.query));
  const std::string content_type = req.Header("content-type");
  const std::string type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(
      absl::string_view(content_type).substr(0, content_type.find(';'))));
  Json body = Json::object();
  if (type == "application/x-www-form-urlencoded") {
    body = AsPhpObject(php::ParseStr(req.body));
  } else if (req.method == "POST" && !req.body.empty()) {
    if (type == "application/json") {
      body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (!body.is_object()) body = Json::object();
    } else if (!absl::StartsWith(type, "multipart/")) {
      body = AsPhpObject(php::ParseStr(req.body));
    }
  }
  for (auto it = body.begin(); it != body.end(); ++it) params[it.key()] = std::move(it.value());
  return params;
}

std::string StringParam(const Json& params, absl::string_view name) {
  const Json* v = Param(params, name);
  std::string s;
  if (v != nullptr) php::ToScalarString(*v, &s);
  return s;
}

// §1.1 routes. `method` is lower-case without ".json"/".xml"; empty when the
// path is no REST route.
struct Route {
  std::string method;
  bool webhook = false;
  std::string user;
  std::string code;
};

Route ParseRoute(const std::string& path) {
  Route route;
  absl::string_view rest = path;
  if (!absl::ConsumePrefix(&rest, "/rest/")) return route;
  absl::ConsumeSuffix(&rest, "/");
  std::vector<std::string> parts = absl::StrSplit(rest, '/');
  if (parts.size() == 3) {
    route.webhook = true;
    route.user = parts[0];
    route.code = parts[1];
  } else if (parts.size() != 1) {
    return route;
  }
  absl::string_view method = parts.back();
  if (!absl::ConsumeSuffix(&method, ".json")) absl::ConsumeSuffix(&method, ".xml");
  route.method = absl::AsciiStrToLower(method);
  return route;
}

std::string HexToken(std::mt19937_64& rng, int chars) {
  std::string out;
  while (static_cast<int>(out.size()) < chars) out += absl::StrFormat("%016x", rng());
  out.resize(static_cast<size_t>(chars));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- EmulatorImpl

class EmulatorImpl {
 public:
  EmulatorImpl(Clock& clock, EmulatorOptions options)
      : clock_(clock), options_(std::move(options)), rng_(std::random_device{}()) {
    access_token_lifetime_ = options_.access_token_lifetime;
    for (auto& app : options_.apps) apps_[app.client_id] = app;
  }
  ~EmulatorImpl() { Stop(); }

  absl::Status Start();
  void Stop();
  absl::StatusOr<PortalInfo> AddPortal(PortalOptions options);
  PortalInfo Info(int portal) const;
  absl::StatusOr<PortalInfo> RenamePortal(int portal);
  void ConfigurePortal(int portal, const std::function<void(PortalOptions&)>& edit);
  void AddWebhook(int portal, int64_t user_id, std::string code);
  void ResetLimits(int portal);
  int oauth_port() const;
  void RegisterApp(AppOptions app);
  absl::StatusOr<Installation> Install(int portal, const std::string& client_id,
                                       int64_t user_id);
  absl::StatusOr<std::string> IssueAuthCode(int portal, const std::string& client_id,
                                            int64_t user_id);
  void Uninstall(int portal, const std::string& client_id);
  void ExpireAccessTokens(int portal);
  void SetAccessTokenLifetime(absl::Duration lifetime);
  void InjectFault(int portal, Fault fault);
  void ClearFaults();
  int PendingFaults() const;
  EmulatorStats Stats() const;
  void ResetStats();

 private:
  struct Portal {
    int id = 0;
    PortalOptions options;
    std::string member_id;
    std::unique_ptr<PortalData> data;
    LeakyBucket bucket;
    std::map<std::pair<std::string, std::string>, OperatingBudget> budgets;  // (entity, method)
    std::vector<std::unique_ptr<HttpServer>> hosts;  // back() is the current one
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

  Portal* FindLocked(int portal) const {
    return portal >= 0 && portal < static_cast<int>(portals_.size()) ? portals_[portal].get()
                                                                     : nullptr;
  }
  PortalInfo InfoLocked(const Portal& p) const;
  absl::StatusOr<HttpServer*> StartHostLocked(Portal* p);
  void HandlePortal(Portal* p, size_t host, const HttpServerRequest& req,
                    HttpServerResponse* resp);
  void HandleRest(Portal& p, const Route& route, const HttpServerRequest& req, absl::Time now,
                  HttpServerResponse* resp);
  AuthResult Authenticate(const Portal& p, const Route& route, const HttpServerRequest& req,
                          const Json& params, absl::Time now) const;
  CallOutcome Call(Portal& p, const CallContext& ctx, absl::Time start, const std::string& method,
                   const Json& params, Hit* hit);
  CallOutcome Batch(Portal& p, const CallContext& ctx, absl::Time start, const Json& params,
                    Hit* hit);
  void HandleOAuth(const HttpServerRequest& req, HttpServerResponse* resp);
  void TokenAnswer(const Json& params, const std::string& grant, absl::Time now,
                   HttpServerResponse* resp);
  absl::Status EnsureInstalledLocked(int portal, const std::string& client_id);
  Installation IssueTokensLocked(int portal, const AppOptions& app, int64_t user_id,
                                 absl::Time now);
  std::optional<Fault> TakeFaultLocked(int portal, const std::string& method, bool in_batch);
  // Applies the next matching fault to an HTTP request. True when the fault is
  // the whole answer; *drop_after asks to drop the connection after answering.
  bool ApplyFaultLocked(int portal, const std::string& method, HttpServerResponse* resp,
                        bool* drop_after);
  void RejectLocked(int portal, const std::string& method, int status, const std::string& error,
                    bool in_batch);

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

absl::Status EmulatorImpl::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (oauth_server_ != nullptr) return absl::FailedPreconditionError("already started");
  oauth_server_ = std::make_unique<HttpServer>(
      [this](const HttpServerRequest& req, HttpServerResponse* resp) { HandleOAuth(req, resp); });
  absl::Status s = oauth_server_->Start(options_.oauth_port);
  if (!s.ok()) oauth_server_.reset();
  return s;
}

void EmulatorImpl::Stop() {
  std::vector<HttpServer*> servers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    if (oauth_server_ != nullptr) servers.push_back(oauth_server_.get());
    for (auto& p : portals_) {
      for (auto& h : p->hosts) servers.push_back(h.get());
    }
  }
  // Outside mu_: handlers that are running need it to finish.
  for (HttpServer* s : servers) s->Stop();
}

absl::StatusOr<HttpServer*> EmulatorImpl::StartHostLocked(Portal* p) {
  size_t host = p->hosts.size();
  auto server = std::make_unique<HttpServer>(
      [this, p, host](const HttpServerRequest& req, HttpServerResponse* resp) {
        HandlePortal(p, host, req, resp);
      });
  absl::Status s = server->Start(host == 0 ? p->options.port : 0);
  if (!s.ok()) return s;
  p->hosts.push_back(std::move(server));
  return p->hosts.back().get();
}

absl::StatusOr<PortalInfo> EmulatorImpl::AddPortal(PortalOptions options) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return absl::FailedPreconditionError("emulator stopped");
  auto p = std::make_unique<Portal>();
  p->id = static_cast<int>(portals_.size());
  p->member_id = options.member_id.empty() ? HexToken(rng_, 32) : options.member_id;
  p->data = std::make_unique<PortalData>(options.seed);
  p->options = std::move(options);
  absl::StatusOr<HttpServer*> host = StartHostLocked(p.get());
  if (!host.ok()) return host.status();
  stats_.portals[p->id];
  portals_.push_back(std::move(p));
  return InfoLocked(*portals_.back());
}

PortalInfo EmulatorImpl::InfoLocked(const Portal& p) const {
  PortalInfo info;
  info.id = p.id;
  info.port = p.hosts.back()->port();
  info.domain = absl::StrCat("127.0.0.1:", info.port);
  info.base_url = absl::StrCat("http://", info.domain, "/");
  info.client_endpoint = absl::StrCat(info.base_url, "rest/");
  info.member_id = p.member_id;
  return info;
}

PortalInfo EmulatorImpl::Info(int portal) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Portal* p = FindLocked(portal);
  return p == nullptr ? PortalInfo() : InfoLocked(*p);
}

absl::StatusOr<PortalInfo> EmulatorImpl::RenamePortal(int portal) {
  std::lock_guard<std::mutex> lock(mu_);
  Portal* p = FindLocked(portal);
  if (p == nullptr) return absl::NotFoundError(absl::StrCat("no portal ", portal));
  if (stopped_) return absl::FailedPreconditionError("emulator stopped");
  absl::StatusOr<HttpServer*> host = StartHostLocked(p);
  if (!host.ok()) return host.status();
  return InfoLocked(*p);
}

void EmulatorImpl::ConfigurePortal(int portal,
                                   const std::function<void(PortalOptions&)>& edit) {
  PortalOptions copy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Portal* p = FindLocked(portal);
    if (p == nullptr) return;
    copy = p->options;
  }
  edit(copy);  // Without mu_: `edit` may call back into the emulator.
  std::lock_guard<std::mutex> lock(mu_);
  Portal* p = FindLocked(portal);
  copy.port = p->options.port;
  copy.member_id = p->options.member_id;
  copy.seed = p->options.seed;
  p->options = std::move(copy);
}

void EmulatorImpl::AddWebhook(int portal, int64_t user_id, std::string code) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Portal* p = FindLocked(portal)) p->options.webhooks.push_back({user_id, std::move(code)});
}

void EmulatorImpl::ResetLimits(int portal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Portal* p = FindLocked(portal)) {
    p->bucket.Reset();
    p->budgets.clear();
  }
}

int EmulatorImpl::oauth_port() const {
  std::lock_guard<std::mutex> lock(mu_);
  return oauth_server_ == nullptr ? 0 : oauth_server_->port();
}

// ---------------------------------------------------------------- portal HTTP

void EmulatorImpl::HandlePortal(Portal* p, size_t host, const HttpServerRequest& req,
                                HttpServerResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time now = clock_.Now();
  if (req.path == "/emulator/stats") {
    resp->status = 200;
    resp->headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    EmulatorStats stats = stats_;
    stats.rejected.assign(rejected_.begin(), rejected_.end());
    resp->body = stats.ToJson();
    return;
  }
  PortalStats& st = stats_.portals[p->id];
  ++st.http_requests;
  resp->delay = p->options.latency;
  if (host + 1 != p->hosts.size()) {  // §1.8: an old host of a renamed portal.
    ++st.redirects;
    resp->status = 302;
    resp->headers = {
        {"Location", absl::StrCat("http://127.0.0.1:", p->hosts.back()->port(), req.target)},
        {"Content-Type", "text/html; charset=utf-8"}};
    return;
  }
  Route route = ParseRoute(req.path);
  bool drop_after = false;
  if (ApplyFaultLocked(p->id, route.method, resp, &drop_after)) return;
  HandleRest(*p, route, req, now, resp);
  if (drop_after) {
    resp->drop_connection = true;
    RejectLocked(p->id, route.method, 0, "DROPPED_AFTER_EXECUTE", false);
  }
}

void EmulatorImpl::HandleRest(Portal& p, const Route& route, const HttpServerRequest& req,
                              absl::Time now, HttpServerResponse* resp) {
  PortalStats& st = stats_.portals[p.id];
  const PortalOptions& o = p.options;
  auto fail = [&](int status, const std::string& error, const std::string& description) {
    ErrorAnswer(resp, status, error, description);
    RejectLocked(p.id, route.method, status, error, false);
  };
  const bool known = !route.method.empty() && IsKnownMethod(route.method);
  if (known) ++st.requests_by_method[route.method];
  // The rate limit sits in front of the portal: every request counts.
  if (o.rate_limit.enabled &&
      !p.bucket.TryAcquire(now, o.rate_limit.burst, o.rate_limit.drain_per_second)) {
    ++st.query_limit_exceeded;
    return fail(503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
  }
  // Unknown methods are refused before authentication (§2.1 notes).
  if (!known) return fail(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
  Json params;
  try {
    params = RequestParams(req);
  } catch (const std::exception&) {
    return fail(400, "INVALID_REQUEST", "Malformed request");
  }
  AuthResult auth = Authenticate(p, route, req, params, now);
  if (!auth.error.ok()) {
    return fail(auth.error.status, auth.error.error, auth.error.error_description);
  }
  params.erase("auth");
  params.erase("access_token");

  Hit hit;
  CallOutcome out;
  try {
    out = route.method == "batch" ? Batch(p, auth.ctx, now, params, &hit)
                                  : Call(p, auth.ctx, now, route.method, params, &hit);
  } catch (const std::exception& e) {
    out.r = MethodResult::Error(500, "INTERNAL_SERVER_ERROR", e.what());
  }
  for (const auto& [method, spent] : hit) {
    p.budgets[{auth.ctx.entity, method}].Charge(now, spent, o.operating.minimal_charge,
                                                o.operating.bucket_size, o.operating.bucket_count);
  }
  if (!out.r.ok()) return fail(out.r.status, out.r.error, out.r.error_description);
  Json envelope = Json{{"result", std::move(out.r.result)}};
  if (out.r.next.has_value()) envelope["next"] = *out.r.next;
  if (out.r.total.has_value()) envelope["total"] = *out.r.total;
  envelope["time"] = std::move(out.time);
  Answer(resp, 200, envelope);
}

EmulatorImpl::AuthResult EmulatorImpl::Authenticate(const Portal& p, const Route& route,
                                                    const HttpServerRequest& req,
                                                    const Json& params, absl::Time now) const {
  AuthResult a;
  if (route.webhook) {
    for (const WebhookOptions& w : p.options.webhooks) {
      if (std::to_string(w.user_id) == route.user && w.code == route.code) {
        a.ctx.entity = absl::StrCat("webhook:", w.user_id, ":", w.code);
        a.ctx.user_id = w.user_id;
        a.ctx.scope = "crm,task,user";
        return a;
      }
    }
    a.error = MethodResult::Error(401, "INVALID_CREDENTIALS", "Invalid request credentials");
    return a;
  }
  std::string token;
  std::string header = req.Header("authorization");
  if (header.size() > 7 && absl::StartsWithIgnoreCase(header, "bearer ")) {
    token = std::string(absl::StripAsciiWhitespace(header.substr(7)));
  }
  if (token.empty()) token = StringParam(params, "auth");
  if (token.empty()) token = StringParam(params, "access_token");
  if (token.empty()) {
    a.error = MethodResult::Error(401, "NO_AUTH_FOUND", "Wrong authorization data");
    return a;
  }
  auto it = access_tokens_.find(token);
  auto install = it == access_tokens_.end()
                     ? installs_.end()
                     : installs_.find({it->second.portal, it->second.client_id});
  if (it == access_tokens_.end() || it->second.revoked || it->second.portal != p.id ||
      install == installs_.end() || !install->second.installed) {
    a.error = MethodResult::Error(401, "invalid_token", "Unable to get application by token");
    return a;
  }
  if (it->second.expires <= now) {
    a.error = MethodResult::Error(401, "expired_token", "The access token provided has expired");
    return a;
  }
  const AppOptions& app = apps_.at(it->second.client_id);
  a.ctx.entity = absl::StrCat("app:", app.client_id);
  a.ctx.client_id = app.client_id;
  a.ctx.app_status = app.status;
  a.ctx.scope = app.scope;
  a.ctx.user_id = it->second.user_id;
  return a;
}

EmulatorImpl::CallOutcome EmulatorImpl::Call(Portal& p, const CallContext& ctx, absl::Time start,
                                             const std::string& method, const Json& params,
                                             Hit* hit) {
  PortalStats& st = stats_.portals[p.id];
  const PortalOptions& o = p.options;
  absl::Time now = clock_.Now();
  CallOutcome out;
  if (o.denied_methods.count(method)) {
    out.r = MethodResult::Error(403, "ACCESS_DENIED", "Access denied!");
    return out;
  }
  OperatingBudget& budget = p.budgets[{ctx.entity, method}];
  absl::Duration& spent = (*hit)[method];
  // Checked before running; the call that crosses the limit still completes.
  if (o.operating.enabled && budget.Used(now) + spent > o.operating.limit) {
    ++st.operation_time_limit;
    out.r = MethodResult::Error(429, "OPERATION_TIME_LIMIT",
                                "Method is blocked due to operation time limit.");
    return out;
  }
  ++st.executed_by_method[method];
  out.r = emulator_internal::RunMethod(*p.data, o, method, ctx, params, now);
  out.cost = o.cost.per_request + o.cost.per_item * out.r.items +
             o.cost.per_count_row * out.r.count_rows;
  spent += out.cost;
  if (out.r.ok()) {
    absl::Time fallback = start + o.operating.bucket_size * o.operating.bucket_count;
    out.time = TimeJson(start, out.cost, budget.Used(now) + spent, budget.ResetAt(now, fallback));
  }
  return out;
}

EmulatorImpl::CallOutcome EmulatorImpl::Batch(Portal& p, const CallContext& ctx,
                                              absl::Time start, const Json& params, Hit* hit) {
  PortalStats& st = stats_.portals[p.id];
  const Json* cmd = Param(params, "cmd");
  const Json* halt_param = Param(params, "halt");
  const bool halt = halt_param != nullptr && php::ToBool(*halt_param);
  Json done = {{"result", Json::object()},
               {"error", Json::object()},
               {"total", Json::object()},
               {"next", Json::object()},
               {"time", Json::object()}};
  std::vector<std::pair<std::string, const Json*>> commands;
  if (cmd != nullptr && cmd->is_object()) {
    for (auto it = cmd->begin(); it != cmd->end(); ++it) commands.emplace_back(it.key(), &*it);
  } else if (cmd != nullptr && cmd->is_array()) {
    for (size_t i = 0; i < cmd->size(); ++i) commands.emplace_back(std::to_string(i), &(*cmd)[i]);
  }
  absl::Duration elapsed;
  int index = 0;
  for (const auto& [key, value] : commands) {
    if (!value->is_string()) continue;  // Silently skipped, like the server.
    std::string method;
    MethodResult r;
    Json time;
    if (++index > kBatchMaxLength) {
      r = MethodResult::Error(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded");
    } else {
      Json sub_params;
      SplitBatchCommand(value->get<std::string>(), &method, &sub_params);
      sub_params.erase("auth");
      sub_params.erase("access_token");
      SubstituteBatchReferences(&sub_params, done);
      std::optional<Fault> fault;
      if (IsKnownMethod(method)) ++st.requests_by_method[method];
      if (method == "batch") {
        r = MethodResult::Error(405, "ERROR_BATCH_METHOD_NOT_ALLOWED",
                                "Method is not allowed for batch usage");
      } else if (!IsKnownMethod(method)) {
        r = MethodResult::Error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
      } else if ((fault = TakeFaultLocked(p.id, method, /*in_batch=*/true)).has_value()) {
        ++st.faults;
        r = MethodResult::Error(fault->status, fault->error, fault->error_description);
      } else {
        CallOutcome out = Call(p, ctx, start + elapsed, method, sub_params, hit);
        elapsed += out.cost;
        r = std::move(out.r);
        time = std::move(out.time);
      }
    }
    if (r.ok()) {
      done["result"][key] = std::move(r.result);
      if (r.total.has_value()) done["total"][key] = *r.total;
      if (r.next.has_value()) done["next"][key] = *r.next;
      done["time"][key] = std::move(time);
    } else {
      done["error"][key] = {{"error", r.error}, {"error_description", r.error_description}};
      RejectLocked(p.id, method, r.status, r.error, /*in_batch=*/true);
      if (halt) break;
    }
  }
  CallOutcome out;
  out.cost = elapsed;
  out.r.result = Json{{"result", php::PhpArray(std::move(done["result"]))},
                      {"result_error", php::PhpArray(std::move(done["error"]))},
                      {"result_total", php::PhpArray(std::move(done["total"]))},
                      {"result_next", php::PhpArray(std::move(done["next"]))},
                      {"result_time", php::PhpArray(std::move(done["time"]))}};
  // batch itself is exempt from the operating limit and reports 0 (§3.2).
  const OperatingLimitOptions& op = p.options.operating;
  out.time = TimeJson(start, elapsed, absl::ZeroDuration(),
                      start + op.bucket_size * op.bucket_count);
  return out;
}

// ---------------------------------------------------------------- OAuth server

void EmulatorImpl::HandleOAuth(const HttpServerRequest& req, HttpServerResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time now = clock_.Now();
  ++stats_.oauth_requests;
  resp->delay = options_.oauth_latency;
  if (req.path != "/oauth/token/" && req.path != "/oauth/token") {
    ErrorAnswer(resp, 404, "not_found", "Unknown path");
    return;
  }
  Json params;
  try {
    params = RequestParams(req);
  } catch (const std::exception&) {
    params = Json::object();
  }
  std::string grant = StringParam(params, "grant_type");
  if (grant == "refresh_token") ++stats_.oauth_refresh_requests;
  if (grant == "authorization_code") ++stats_.oauth_code_requests;
  bool drop_after = false;
  if (ApplyFaultLocked(Emulator::kOAuthServer, grant, resp, &drop_after)) return;
  TokenAnswer(params, grant, now, resp);
  if (drop_after) {
    resp->drop_connection = true;
    RejectLocked(Emulator::kOAuthServer, grant, 0, "DROPPED_AFTER_EXECUTE", false);
  }
}

void EmulatorImpl::TokenAnswer(const Json& params, const std::string& grant, absl::Time now,
                               HttpServerResponse* resp) {
  auto fail = [&](int status, const std::string& error, const std::string& description) {
    if (error == "invalid_grant") ++stats_.oauth_invalid_grant;
    ErrorAnswer(resp, status, error, description);
    RejectLocked(Emulator::kOAuthServer, grant, status, error, false);
  };
  auto app = apps_.find(StringParam(params, "client_id"));
  if (app == apps_.end()) return fail(200, "wrong_client", "Wrong client");  // Sic: 200.
  if (StringParam(params, "client_secret") != app->second.client_secret) {
    return fail(400, "invalid_client", "Invalid client credentials");
  }
  int portal = -1;
  int64_t user_id = 0;
  if (grant == "refresh_token") {
    std::string token = StringParam(params, "refresh_token");
    if (token.empty()) return fail(400, "invalid_request", "No \"refresh_token\" parameter found");
    auto it = refresh_tokens_.find(token);
    if (it == refresh_tokens_.end() || it->second.client_id != app->first ||
        it->second.expires <= now) {
      return fail(400, "invalid_grant", "Invalid refresh token");
    }
    // Rotation: the used refresh token and the access token issued with it die.
    portal = it->second.portal;
    user_id = it->second.user_id;
    auto access = access_tokens_.find(it->second.access_token);
    if (access != access_tokens_.end()) access->second.revoked = true;
    refresh_tokens_.erase(it);
  } else if (grant == "authorization_code") {
    std::string code = StringParam(params, "code");
    if (code.empty()) return fail(400, "invalid_request", "No \"code\" parameter found");
    auto it = auth_codes_.find(code);
    if (it == auth_codes_.end() || it->second.client_id != app->first ||
        it->second.expires <= now) {
      return fail(400, "invalid_grant", "Invalid authorization code");
    }
    portal = it->second.portal;
    user_id = it->second.user_id;
    auth_codes_.erase(it);
  } else {
    return fail(400, "unsupported_grant_type", "Unsupported grant type");
  }
  auto install = installs_.find({portal, app->first});
  if (install == installs_.end() || !install->second.installed) {
    return fail(400, "invalid_grant", "Application not installed");
  }
  Installation inst = IssueTokensLocked(portal, app->second, user_id, now);
  Answer(resp, 200,
         Json{{"access_token", inst.access_token},
              {"expires", absl::ToUnixSeconds(inst.expires)},
              {"expires_in", absl::ToInt64Seconds(inst.expires - now)},
              {"scope", inst.scope},
              {"domain", absl::StrCat("127.0.0.1:", oauth_server_->port())},
              {"server_endpoint", inst.server_endpoint},
              {"status", inst.status},
              {"client_endpoint", inst.client_endpoint},
              {"member_id", inst.member_id},
              {"user_id", inst.user_id},
              {"refresh_token", inst.refresh_token}});
}

Installation EmulatorImpl::IssueTokensLocked(int portal, const AppOptions& app, int64_t user_id,
                                             absl::Time now) {
  const Portal& p = *portals_[portal];
  PortalInfo info = InfoLocked(p);
  InstallRecord& record = installs_[{portal, app.client_id}];
  Installation inst;
  inst.access_token = HexToken(rng_, 64);
  inst.refresh_token = HexToken(rng_, 64);
  inst.expires = now + access_token_lifetime_;
  inst.member_id = p.member_id;
  inst.application_token = record.application_token;
  inst.domain = info.domain;
  inst.client_endpoint = info.client_endpoint;
  inst.server_endpoint = absl::StrCat(
      "http://127.0.0.1:", oauth_server_ == nullptr ? 0 : oauth_server_->port(), "/rest/");
  inst.scope = app.scope;
  inst.status = app.status;
  inst.user_id = user_id;
  access_tokens_[inst.access_token] = {portal, app.client_id, user_id, inst.expires};
  refresh_tokens_[inst.refresh_token] = {portal, app.client_id, user_id,
                                         now + options_.refresh_token_lifetime, inst.access_token};
  return inst;
}

// ---------------------------------------------------------------- test API

void EmulatorImpl::RegisterApp(AppOptions app) {
  std::lock_guard<std::mutex> lock(mu_);
  apps_[app.client_id] = std::move(app);
}

absl::Status EmulatorImpl::EnsureInstalledLocked(int portal, const std::string& client_id) {
  if (FindLocked(portal) == nullptr || apps_.count(client_id) == 0) {
    return absl::NotFoundError("unknown portal or client_id");
  }
  InstallRecord& record = installs_[{portal, client_id}];
  if (record.application_token.empty() || !record.installed) {
    record.application_token = HexToken(rng_, 32);
    record.installed = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<Installation> EmulatorImpl::Install(int portal, const std::string& client_id,
                                                   int64_t user_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = EnsureInstalledLocked(portal, client_id);
  if (!s.ok()) return s;
  return IssueTokensLocked(portal, apps_.at(client_id), user_id, clock_.Now());
}

absl::StatusOr<std::string> EmulatorImpl::IssueAuthCode(int portal, const std::string& client_id,
                                                        int64_t user_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = EnsureInstalledLocked(portal, client_id);
  if (!s.ok()) return s;
  std::string code = HexToken(rng_, 32);
  auth_codes_[code] = {portal, client_id, user_id, clock_.Now() + options_.auth_code_lifetime};
  return code;
}

void EmulatorImpl::Uninstall(int portal, const std::string& client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto install = installs_.find({portal, client_id});
  if (install != installs_.end()) install->second.installed = false;
  for (auto& [token, t] : access_tokens_) {
    if (t.portal == portal && t.client_id == client_id) t.revoked = true;
  }
  for (auto it = refresh_tokens_.begin(); it != refresh_tokens_.end();) {
    bool dead = it->second.portal == portal && it->second.client_id == client_id;
    it = dead ? refresh_tokens_.erase(it) : std::next(it);
  }
}

void EmulatorImpl::ExpireAccessTokens(int portal) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time now = clock_.Now();
  for (auto& [token, t] : access_tokens_) {
    if (t.portal == portal && t.expires > now) t.expires = now;
  }
}

void EmulatorImpl::SetAccessTokenLifetime(absl::Duration lifetime) {
  std::lock_guard<std::mutex> lock(mu_);
  access_token_lifetime_ = lifetime;
}

void EmulatorImpl::InjectFault(int portal, Fault fault) {
  std::lock_guard<std::mutex> lock(mu_);
  fault.method = absl::AsciiStrToLower(fault.method);
  if (fault.count > 0) faults_.emplace_back(portal, std::move(fault));
}

void EmulatorImpl::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.clear();
}

int EmulatorImpl::PendingFaults() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [portal, f] : faults_) n += f.count;
  return n;
}

bool EmulatorImpl::ApplyFaultLocked(int portal, const std::string& method,
                                    HttpServerResponse* resp, bool* drop_after) {
  std::optional<Fault> fault = TakeFaultLocked(portal, method, /*in_batch=*/false);
  if (!fault.has_value()) return false;
  if (portal != Emulator::kOAuthServer) ++stats_.portals[portal].faults;
  switch (fault->kind) {
    case Fault::Kind::kJsonError:
      ErrorAnswer(resp, fault->status, fault->error, fault->error_description);
      RejectLocked(portal, method, fault->status, fault->error, false);
      return true;
    case Fault::Kind::kRawBody:
      resp->status = fault->status;
      resp->headers = {{"Content-Type", "text/html; charset=utf-8"}};
      resp->body = fault->body;
      RejectLocked(portal, method, fault->status, "", false);
      return true;
    case Fault::Kind::kDropBeforeExecute:
      resp->drop_connection = true;
      RejectLocked(portal, method, 0, "DROPPED_BEFORE_EXECUTE", false);
      return true;
    case Fault::Kind::kDropAfterExecute:
      *drop_after = true;
      return false;
    case Fault::Kind::kDelay:
      resp->delay += fault->delay;
      return false;
  }
  return false;
}

std::optional<Fault> EmulatorImpl::TakeFaultLocked(int portal, const std::string& method,
                                                   bool in_batch) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    Fault& f = it->second;
    if (it->first != portal || (!f.method.empty() && f.method != method)) continue;
    if (in_batch && (f.kind != Fault::Kind::kJsonError || f.method.empty())) continue;
    Fault taken = f;
    if (--f.count <= 0) faults_.erase(it);
    return taken;
  }
  return std::nullopt;
}

void EmulatorImpl::RejectLocked(int portal, const std::string& method, int status,
                                const std::string& error, bool in_batch) {
  rejected_.push_back({portal, method, status, error, in_batch, clock_.Now()});
  if (rejected_.size() > kMaxRejected) rejected_.pop_front();
}

EmulatorStats EmulatorImpl::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EmulatorStats stats = stats_;
  stats.rejected.assign(rejected_.begin(), rejected_.end());
  return stats;
}

void EmulatorImpl::ResetStats() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, s] : stats_.portals) s = PortalStats();
  stats_.oauth_requests = stats_.oauth_refresh_requests = stats_.oauth_code_requests =
      stats_.oauth_invalid_grant = 0;
  rejected_.clear();
}

// ---------------------------------------------------------------- public API

std::string PortalInfo::WebhookUrl(int64_t user_id, absl::string_view code) const {
  return absl::StrCat(client_endpoint, user_id, "/", code, "/");
}

Fault Fault::JsonError(int status, std::string error, std::string description,
                       std::string method) {
  Fault f;
  f.kind = Kind::kJsonError;
  f.status = status;
  f.error = std::move(error);
  f.error_description = std::move(description);
  f.method = std::move(method);
  return f;
}

Fault Fault::Html(int status, std::string body, std::string method) {
  Fault f;
  f.kind = Kind::kRawBody;
  f.status = status;
  f.body = std::move(body);
  f.method = std::move(method);
  return f;
}

Fault Fault::EmptyBody(int status, std::string method) { return Html(status, "", std::move(method)); }

Fault Fault::DropBeforeExecute(std::string method) {
  Fault f;
  f.kind = Kind::kDropBeforeExecute;
  f.method = std::move(method);
  return f;
}

Fault Fault::DropAfterExecute(std::string method) {
  Fault f;
  f.kind = Kind::kDropAfterExecute;
  f.method = std::move(method);
  return f;
}

Fault Fault::Slow(absl::Duration delay, std::string method) {
  Fault f;
  f.kind = Kind::kDelay;
  f.delay = delay;
  f.method = std::move(method);
  return f;
}

std::string EmulatorStats::ToJson() const {
  Json j = Json::object();
  Json ps = Json::object();
  for (const auto& [id, s] : portals) {
    Json by_method = Json::object(), executed = Json::object();
    for (const auto& [m, n] : s.requests_by_method) by_method[m] = n;
    for (const auto& [m, n] : s.executed_by_method) executed[m] = n;
    ps[std::to_string(id)] = {{"http_requests", s.http_requests},
                              {"requests_by_method", by_method},
                              {"executed_by_method", executed},
                              {"query_limit_exceeded", s.query_limit_exceeded},
                              {"operation_time_limit", s.operation_time_limit},
                              {"redirects", s.redirects},
                              {"faults", s.faults}};
  }
  j["portals"] = std::move(ps);
  j["oauth"] = {{"requests", oauth_requests},
                {"refresh_requests", oauth_refresh_requests},
                {"code_requests", oauth_code_requests},
                {"invalid_grant", oauth_invalid_grant}};
  Json rej = Json::array();
  for (const RejectedRequest& r : rejected) {
    rej.push_back({{"portal", r.portal},
                   {"method", r.method},
                   {"http_status", r.http_status},
                   {"error", r.error},
                   {"in_batch", r.in_batch},
                   {"at", UnixSeconds(r.at)}});
  }
  j["rejected"] = std::move(rej);
  return Dump(j);
}

Emulator::Emulator(Clock& clock, EmulatorOptions options)
    : impl_(std::make_unique<EmulatorImpl>(clock, std::move(options))) {}
Emulator::~Emulator() { impl_->Stop(); }
absl::Status Emulator::Start() { return impl_->Start(); }
void Emulator::Stop() { impl_->Stop(); }
absl::StatusOr<PortalInfo> Emulator::AddPortal(PortalOptions options) {
  return impl_->AddPortal(std::move(options));
}
PortalInfo Emulator::portal(int portal) const { return impl_->Info(portal); }
absl::StatusOr<PortalInfo> Emulator::RenamePortal(int portal) {
  return impl_->RenamePortal(portal);
}
void Emulator::ConfigurePortal(int portal, const std::function<void(PortalOptions&)>& edit) {
  impl_->ConfigurePortal(portal, edit);
}
void Emulator::AddWebhook(int portal, int64_t user_id, std::string code) {
  impl_->AddWebhook(portal, user_id, std::move(code));
}
void Emulator::ResetLimits(int portal) { impl_->ResetLimits(portal); }
int Emulator::oauth_port() const { return impl_->oauth_port(); }
std::string Emulator::oauth_token_url() const {
  return absl::StrCat("http://127.0.0.1:", oauth_port(), "/oauth/token/");
}
std::string Emulator::oauth_server_endpoint() const {
  return absl::StrCat("http://127.0.0.1:", oauth_port(), "/rest/");
}
void Emulator::RegisterApp(AppOptions app) { impl_->RegisterApp(std::move(app)); }
absl::StatusOr<Installation> Emulator::Install(int portal, const std::string& client_id,
                                               int64_t user_id) {
  return impl_->Install(portal, client_id, user_id);
}
absl::StatusOr<std::string> Emulator::IssueAuthCode(int portal, const std::string& client_id,
                                                    int64_t user_id) {
  return impl_->IssueAuthCode(portal, client_id, user_id);
}
void Emulator::Uninstall(int portal, const std::string& client_id) {
  impl_->Uninstall(portal, client_id);
}
void Emulator::ExpireAccessTokens(int portal) { impl_->ExpireAccessTokens(portal); }
void Emulator::SetAccessTokenLifetime(absl::Duration lifetime) {
  impl_->SetAccessTokenLifetime(lifetime);
}
void Emulator::InjectFault(int portal, Fault fault) { impl_->InjectFault(portal, std::move(fault)); }
void Emulator::ClearFaults() { impl_->ClearFaults(); }
int Emulator::PendingFaults() const { return impl_->PendingFaults(); }
EmulatorStats Emulator::Stats() const { return impl_->Stats(); }
void Emulator::ResetStats() { impl_->ResetStats(); }

}  // namespace b24::testing
