#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/rest/client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/common/status.h"

namespace b24::rest {
namespace {

// Per-attempt state shared by the executor's build/judge closures.
struct CallState {
  Portal portal;
  std::string method;
  std::shared_ptr<const std::string> body;
  std::string token;
  std::string base_url;  // changes when the portal moved (302)
  int redirects = 0;
  absl::StatusOr<Envelope> envelope = absl::UnknownError("no response");
};

}  // namespace

RestClient::RestClient(exec::Executor& executor, const http::HostPolicy& policy, Clock& clock, Logger& log,
                       RestClientOptions options)
    : executor_(executor), policy_(policy), clock_(clock), log_(log), options_(options) {}

void RestClient::Call(const Portal& portal, const std::string& method, const Json& params, absl::Time deadline,
                      CallDone done) {
  Options o;
  o.idempotent = IsReadOnlyMethod(method);
  CallWith(portal, method, params, deadline, std::move(o), std::move(done));
}

void RestClient::CallWith(const Portal& portal, const std::string& method, const Json& params, absl::Time deadline,
                          Options options, CallDone done) {
  if (!IsValidMethodName(method)) {
    done(GatewayError(
        absl::StatusCode::kInvalidArgument, "INVALID_METHOD",
        absl::StrCat("'", method.substr(0, 100), "' is not a REST method name (letters, digits, '.' and '_' only)")));
    return;
  }
  if (!params.is_null() && !params.is_object()) {
    done(GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_PARAMS", "params must be a JSON object"));
    return;
  }
  auto body = std::make_shared<const std::string>(params.is_null() ? "{}" : params.dump());
  if (options_.detect_plan && portal.tokens && method != "app.info") DetectPlan(portal);
  if (!portal.tokens) {
    Attempt(portal, method, std::move(body), deadline, std::move(options), "", false, std::move(done));
    return;
  }
  portal.tokens->Token([this, portal, method, body, deadline, options = std::move(options),
                        done = std::move(done)](absl::StatusOr<std::string> token) mutable {
    if (!token.ok()) {
      done(token.status());
      return;
    }
    Attempt(portal, method, std::move(body), deadline, std::move(options), *std::move(token), false, std::move(done));
  });
}

void RestClient::DetectPlan(const Portal& portal) {
  {
    absl::MutexLock lock(&plans_mu_);
    if (!plans_asked_.insert(portal.host).second) return;
  }
  CallWith(portal, "app.info", Json::object(), clock_.Now() + options_.request_timeout, Options{},
           [this, host = portal.host](absl::StatusOr<Envelope> env) {
             if (!env.ok() || !env->result.is_object()) {  // keep the standard plan; ask again next time
               absl::MutexLock lock(&plans_mu_);
               plans_asked_.erase(host);
               return;
             }
             std::string family = JsonString(env->result, "LICENSE_FAMILY");
             executor_.SetDetectedPlan(host, family == "ent" ? exec::Plan::kEnterprise : exec::Plan::kStandard);
           });
}

void RestClient::Attempt(const Portal& portal, const std::string& method, std::shared_ptr<const std::string> body,
                         absl::Time deadline, Options options, std::string token, bool refreshed, CallDone done) {
  auto state = std::make_shared<CallState>();
  state->portal = portal;
  state->method = method;
  state->body = body;
  state->token = token;
  state->base_url = portal.base_url;

  exec::Job job;
  job.portal = portal.host;
  job.caller = portal.caller;
  job.method = method;
  job.gated_methods = options.gated_methods;
  job.idempotent = options.idempotent;
  job.deadline = deadline;
  job.build = [this, state, cancelled = options.cancelled]() -> absl::StatusOr<http::HttpRequest> {
    if (cancelled && cancelled()) return absl::CancelledError("the caller went away before the request was sent");
    http::HttpRequest r;
    r.url = state->base_url + state->method;
    absl::StatusOr<http::Url> url = http::ParseUrl(r.url);
    if (!url.ok()) return url.status();
    if (absl::Status s = policy_.Check(*url); !s.ok()) return s;
    r.body = *state->body;
    r.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    if (!state->token.empty()) r.headers.emplace_back("Authorization", "Bearer " + state->token);
    r.timeout = options_.request_timeout;
    if (log_.Enabled(LogLevel::kDebug)) {
      log_.Debug("-> POST ", RedactUrl(r.url), " ", RedactBody(r.body));
    }
    return r;
  };
  auto operating = options.operating;
  auto validate = options.validate;
  job.judge = [this, state, operating, validate](absl::StatusOr<http::HttpResponse> r) -> exec::Verdict {
    exec::Verdict v;
    if (!r.ok()) {
      log_.Debug("<- ", state->method, " on ", state->portal.id, ": ", r.status().message());
      v.surely_not_executed = http::SurelyNotSent(r.status());
      if (GetErrorDetail(r.status())) {
        // The transport decided it for good (refused address, answer too
        // large, malformed URL): repeating cannot help.
        v.outcome = exec::Outcome::kFinal;
        v.status = r.status();
        state->envelope = v.status;
        return v;
      }
      v.outcome = exec::Outcome::kTransient;
      bool timeout = r.status().code() == absl::StatusCode::kDeadlineExceeded;
      v.status = ErrorWithDetail(r.status().code(), r.status().message(),
                                 {timeout ? "UPSTREAM_TIMEOUT" : "UPSTREAM_UNREACHABLE",
                                  std::string(kDomainGateway),
                                  {{"method", state->method}}});
      state->envelope = v.status;
      return v;
    }
    if (log_.Enabled(LogLevel::kDebug)) {
      log_.Debug(
          absl::StrCat("<- ", r->status, " ", state->method, " on ", state->portal.id, " ", RedactBody(r->body)));
    }
    if (r->status == 301 || r->status == 302 || r->status == 307 || r->status == 308) {
      std::string location = r->Header("location");
      absl::StatusOr<http::Url> to = http::ParseUrl(location);
      absl::StatusOr<http::Url> from = http::ParseUrl(state->base_url);
      if (!to.ok() || !from.ok() || ++state->redirects > options_.max_redirects) {
        v.outcome = exec::Outcome::kFinal;
        v.surely_not_executed = true;  // a renamed portal's old host runs nothing
        v.status = GatewayError(absl::StatusCode::kUnavailable, "BAD_REDIRECT",
                                absl::StrCat("portal ", state->portal.id, " answered HTTP ", r->status,
                                             " with an unusable or looping Location"));
        state->envelope = v.status;
        return v;
      }
      if (absl::Status s = policy_.Check(*to); !s.ok()) {
        v.outcome = exec::Outcome::kFinal;
        v.surely_not_executed = true;
        v.status = s;
        state->envelope = s;
        return v;
      }
      // A renamed portal keeps its paths: same path on the new origin.
      std::string new_base = to->Origin() + from->path;
      log_.Warning(
          absl::StrCat("portal ", state->portal.id, " moved: ", RedactUrl(from->Origin()), " -> ", to->Origin()));
      state->base_url = new_base;
      // Only a permanent move (how Bitrix24 announces a rename) is remembered.
      if (on_rename_ && (r->status == 301 || r->status == 302)) on_rename_(state->portal, new_base);
      v.outcome = exec::Outcome::kRetryNow;
      v.surely_not_executed = true;
      v.status = absl::UnavailableError("redirected");
      return v;
    }
    absl::StatusOr<Envelope> env = ParseEnvelope(*r, state->method, options_.json);
    if (env.ok() && validate) {
      if (absl::Status s = validate(*env); !s.ok()) env = s;
    }
    if (env.ok()) {
      v.outcome = exec::Outcome::kSuccess;
      if (operating) {
        v.operating = operating(*env);
      } else {
        v.operating.push_back({state->method, env->time.operating, env->time.operating_reset_at, env->time.processing});
      }
      state->envelope = std::move(env);
      return v;
    }
    v.status = env.status();
    state->envelope = env.status();
    switch (Classify(env.status())) {
      case ErrorClass::kRateLimited:
        v.outcome = exec::Outcome::kRateLimited;
        v.surely_not_executed = true;
        break;
      case ErrorClass::kOperatingLimit:
        v.outcome = exec::Outcome::kOperatingLimit;
        v.surely_not_executed = true;
        break;
      case ErrorClass::kTransient:
        v.outcome = exec::Outcome::kTransient;
        break;
      default:
        v.outcome = exec::Outcome::kFinal;
        // The portal refused the request with its own error code: it ran nothing.
        v.surely_not_executed = !PortalErrorCode(env.status()).empty();
    }
    return v;
  };
  executor_.Submit(std::move(job), [this, state, portal, method, body, deadline, options, refreshed,
                                    done = std::move(done)](absl::Status status) mutable {
    if (status.ok()) {
      done(std::move(state->envelope));
      return;
    }
    if (!refreshed && portal.tokens && Classify(status) == ErrorClass::kExpiredToken) {
      portal.tokens->Refresh(state->token, [this, portal, method, body, deadline, options = std::move(options),
                                            done = std::move(done)](absl::StatusOr<std::string> token) mutable {
        if (!token.ok()) {
          done(token.status());
          return;
        }
        Attempt(portal, method, std::move(body), deadline, std::move(options), *std::move(token), true,
                std::move(done));
      });
      return;
    }
    if (log_.Enabled(LogLevel::kWarning)) {
      log_.Warning(method, " on ", portal.id, " failed: ", absl::StatusCodeToString(status.code()), ": ",
                   status.message());
    }
    done(status);
  });
}

}  // namespace b24::rest
