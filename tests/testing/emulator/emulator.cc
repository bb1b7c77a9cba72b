// Lifecycle and portals of the emulator, and the public API, which forwards to
// EmulatorImpl (emulator_impl.h lists where each concern lives).
#include "tests/testing/emulator/emulator.h"

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/testing/emulator/emulator_impl.h"
#include "tests/testing/http_server.h"

namespace b24::testing {
namespace emulator_internal {

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void Answer(HttpServerResponse* resp, int status, const Json& body) {
  resp->status = status;
  resp->headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  resp->body = Dump(body);
}

void ErrorAnswer(HttpServerResponse* resp, int status, const std::string& error, const std::string& description) {
  Answer(resp, status, Json{{"error", error}, {"error_description", description}});
}

double UnixSeconds(absl::Time t) { return static_cast<double>(absl::ToUnixMicros(t)) / 1e6; }

std::string HexToken(std::mt19937_64& rng, int chars) {
  std::string out;
  while (static_cast<int>(out.size()) < chars) out += absl::StrFormat("%016x", rng());
  out.resize(static_cast<size_t>(chars));
  return out;
}

}  // namespace emulator_internal

using emulator_internal::HexToken;

// ---------------------------------------------------------------- EmulatorImpl

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
      [this, p, host](const HttpServerRequest& req, HttpServerResponse* resp) { HandlePortal(p, host, req, resp); });
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

void EmulatorImpl::ConfigurePortal(int portal, const std::function<void(PortalOptions&)>& edit) {
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

// ---------------------------------------------------------------- public API

std::string PortalInfo::WebhookUrl(int64_t user_id, absl::string_view code) const {
  return absl::StrCat(client_endpoint, user_id, "/", code, "/");
}

Emulator::Emulator(Clock& clock, EmulatorOptions options)
    : impl_(std::make_unique<EmulatorImpl>(clock, std::move(options))) {}
Emulator::~Emulator() { impl_->Stop(); }
absl::Status Emulator::Start() { return impl_->Start(); }
void Emulator::Stop() { impl_->Stop(); }
absl::StatusOr<PortalInfo> Emulator::AddPortal(PortalOptions options) { return impl_->AddPortal(std::move(options)); }
PortalInfo Emulator::portal(int portal) const { return impl_->Info(portal); }
absl::StatusOr<PortalInfo> Emulator::RenamePortal(int portal) { return impl_->RenamePortal(portal); }
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
absl::StatusOr<Installation> Emulator::Install(int portal, const std::string& client_id, int64_t user_id) {
  return impl_->Install(portal, client_id, user_id);
}
absl::StatusOr<std::string> Emulator::IssueAuthCode(int portal, const std::string& client_id, int64_t user_id) {
  return impl_->IssueAuthCode(portal, client_id, user_id);
}
void Emulator::Uninstall(int portal, const std::string& client_id) { impl_->Uninstall(portal, client_id); }
void Emulator::ExpireAccessTokens(int portal) { impl_->ExpireAccessTokens(portal); }
void Emulator::SetAccessTokenLifetime(absl::Duration lifetime) { impl_->SetAccessTokenLifetime(lifetime); }
void Emulator::InjectFault(int portal, Fault fault) { impl_->InjectFault(portal, std::move(fault)); }
void Emulator::ClearFaults() { impl_->ClearFaults(); }
int Emulator::PendingFaults() const { return impl_->PendingFaults(); }
EmulatorStats Emulator::Stats() const { return impl_->Stats(); }
void Emulator::ResetStats() { impl_->ResetStats(); }

}  // namespace b24::testing
