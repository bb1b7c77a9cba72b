// Faults: the FIFO queue of injected faults, which request each one matches
// (portal or OAuth server, method or grant_type, inside a batch or not), and
// what applying one does to the answer.
#include "tests/testing/emulator/emulator_impl.h"

#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/emulator/emulator.h"
#include "tests/testing/http_server.h"

namespace b24::testing {

using emulator_internal::ErrorAnswer;

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

bool EmulatorImpl::ApplyFaultLocked(int portal, const std::string& method, HttpServerResponse* resp, bool* drop_after) {
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

std::optional<Fault> EmulatorImpl::TakeFaultLocked(int portal, const std::string& method, bool in_batch) {
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

void EmulatorImpl::HandleFaultControlLocked(int portal, const HttpServerRequest& req, HttpServerResponse* resp) {
  resp->headers = {{"Content-Type", "application/json; charset=utf-8"}};
  auto answer = [&](int status, const std::string& error) {
    resp->status = status;
    int pending = 0;
    for (const auto& [_, f] : faults_) pending += f.count;
    nlohmann::json out = {{"pending", pending}};
    if (!error.empty()) out["error"] = error;
    resp->body = out.dump();
  };
  if (req.method == "DELETE") {
    faults_.clear();
    return answer(200, "");
  }
  if (req.method != "POST") return answer(405, "use POST (queue a fault) or DELETE (clear all)");
  nlohmann::json in = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!in.is_object()) return answer(400, "the body must be a JSON object");
  auto str = [&](const char* key, const std::string& fallback) {
    auto it = in.find(key);
    return it != in.end() && it->is_string() ? it->get<std::string>() : fallback;
  };
  auto num = [&](const char* key, int64_t fallback) {
    auto it = in.find(key);
    return it != in.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
  };
  const std::string kind = str("kind", "");
  const std::string method = str("method", "");
  Fault f;
  if (kind == "json_error") {
    f = Fault::JsonError(static_cast<int>(num("status", 500)), str("error", "INTERNAL_SERVER_ERROR"),
                         str("error_description", "Internal server error"), method);
  } else if (kind == "html") {
    f = Fault::Html(static_cast<int>(num("status", 502)), str("body", "<html>Bad Gateway</html>"), method);
  } else if (kind == "empty") {
    f = Fault::EmptyBody(static_cast<int>(num("status", 200)), method);
  } else if (kind == "drop_before_execute") {
    f = Fault::DropBeforeExecute(method);
  } else if (kind == "drop_after_execute") {
    f = Fault::DropAfterExecute(method);
  } else if (kind == "slow") {
    f = Fault::Slow(absl::Milliseconds(num("delay_ms", 1000)), method);
  } else {
    return answer(400, absl::StrCat("unknown fault kind \"", kind,
                                    "\": json_error, html, empty, drop_before_execute, drop_after_execute, slow"));
  }
  f.count = static_cast<int>(num("count", 1));
  if (f.count <= 0) return answer(400, "count must be positive");
  f.method = absl::AsciiStrToLower(f.method);
  faults_.emplace_back(portal, std::move(f));
  answer(200, "");
}

Fault Fault::JsonError(int status, std::string error, std::string description, std::string method) {
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

}  // namespace b24::testing
