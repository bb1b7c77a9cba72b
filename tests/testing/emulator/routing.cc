// Routing: an HTTP request to a portal host becomes a REST call — the §1.8
// redirect of a renamed host, faults, the leaky bucket, the §1.1 route, the
// §1.3 parameter merge, webhook or OAuth credentials (§1.2), the method (or
// batch, §4) and its operating-time charge (§3.2), and the §1.5/§1.6 envelope.
#include "tests/testing/emulator/emulator_impl.h"

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/testing/emulator/batch.h"
#include "tests/testing/emulator/php.h"
#include "tests/testing/emulator/rest_methods.h"
#include "tests/testing/http_server.h"

namespace b24::testing {
namespace emulator_internal {
namespace {

// The §1.5 `time` object.
Json TimeJson(absl::Time start, absl::Duration duration, absl::Duration operating, absl::Time reset_at) {
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

}  // namespace

Json RequestParams(const HttpServerRequest& req) {
  Json params = AsPhpObject(php::ParseStr(req.query));
  const std::string content_type = req.Header("content-type");
  const std::string type = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(absl::string_view(content_type).substr(0, content_type.find(';'))));
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

}  // namespace emulator_internal

using emulator_internal::Answer;
using emulator_internal::ErrorAnswer;
using emulator_internal::IsKnownMethod;
using emulator_internal::Param;
using emulator_internal::ParseRoute;
using emulator_internal::RequestParams;
using emulator_internal::StringParam;
using emulator_internal::TimeJson;

namespace {

constexpr int kBatchMaxLength = 50;

}  // namespace

void EmulatorImpl::HandlePortal(Portal* p, size_t host, const HttpServerRequest& req, HttpServerResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time now = clock_.Now();
  if (req.path == "/emulator/stats") {
    resp->status = 200;
    resp->headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    resp->body = StatsLocked().ToJson();
    return;
  }
  if (req.path == "/emulator/faults") {
    HandleFaultControlLocked(p->id, req, resp);
    return;
  }
  PortalStats& st = stats_.portals[p->id];
  ++st.http_requests;
  resp->delay = p->options.latency;
  if (host + 1 != p->hosts.size()) {  // §1.8: an old host of a renamed portal.
    ++st.redirects;
    resp->status = 302;
    resp->headers = {{"Location", absl::StrCat("http://127.0.0.1:", p->hosts.back()->port(), req.target)},
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

void EmulatorImpl::HandleRest(Portal& p, const Route& route, const HttpServerRequest& req, absl::Time now,
                              HttpServerResponse* resp) {
  PortalStats& st = stats_.portals[p.id];
  const PortalOptions& o = p.options;
  auto fail = [&](int status, const std::string& error, const std::string& description) {
    ErrorAnswer(resp, status, error, description);
    RejectLocked(p.id, route.method, status, error, false);
  };
  const bool known = !route.method.empty() && IsKnownMethod(route.method);
  if (known) ++st.requests_by_method[route.method];
  // The rate limit sits in front of the portal: every request counts.
  if (o.rate_limit.enabled && !p.bucket.TryAcquire(now, o.rate_limit.burst, o.rate_limit.drain_per_second)) {
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
    p.budgets[{auth.ctx.entity, method}].Charge(now, spent, o.operating.minimal_charge, o.operating.bucket_size,
                                                o.operating.bucket_count);
  }
  if (!out.r.ok()) return fail(out.r.status, out.r.error, out.r.error_description);
  Json envelope = Json{{"result", std::move(out.r.result)}};
  if (out.r.next.has_value()) envelope["next"] = *out.r.next;
  if (out.r.total.has_value()) envelope["total"] = *out.r.total;
  envelope["time"] = std::move(out.time);
  Answer(resp, 200, envelope);
}

EmulatorImpl::AuthResult EmulatorImpl::Authenticate(const Portal& p, const Route& route, const HttpServerRequest& req,
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
  auto install =
      it == access_tokens_.end() ? installs_.end() : installs_.find({it->second.portal, it->second.client_id});
  if (it == access_tokens_.end() || it->second.revoked || it->second.portal != p.id || install == installs_.end() ||
      !install->second.installed) {
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
                                             const std::string& method, const Json& params, Hit* hit) {
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
    out.r = MethodResult::Error(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.");
    return out;
  }
  ++st.executed_by_method[method];
  out.r = emulator_internal::RunMethod(*p.data, o, method, ctx, params, now);
  out.cost = o.cost.per_request + o.cost.per_item * out.r.items + o.cost.per_count_row * out.r.count_rows;
  spent += out.cost;
  if (out.r.ok()) {
    absl::Time fallback = start + o.operating.bucket_size * o.operating.bucket_count;
    out.time = TimeJson(start, out.cost, budget.Used(now) + spent, budget.ResetAt(now, fallback));
  }
  return out;
}

EmulatorImpl::CallOutcome EmulatorImpl::Batch(Portal& p, const CallContext& ctx, absl::Time start, const Json& params,
                                              Hit* hit) {
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
        r = MethodResult::Error(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage");
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
  out.time = TimeJson(start, elapsed, absl::ZeroDuration(), start + op.bucket_size * op.bucket_count);
  return out;
}

}  // namespace b24::testing
