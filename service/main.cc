// bitrix24-service: the composition root. The only file that chooses concrete
// implementations (curl transport, real clock, SOCI store) and owns globals.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <random>
#include <iostream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/app/install.h"
#include "service/app/store_health.h"
#include "service/auth/oauth.h"
#include "service/auth/portal_directory.h"
#include "service/common/clock.h"
#include "service/config/config.h"
#include "service/common/log.h"
#include "service/common/worker.h"
#include "service/exec/executor.h"
#include "service/grpc/service_impl.h"
#include "service/http/curl/curl_transport.h"
#include "service/metrics/metrics.h"
#include "service/tls/reloadable_credentials.h"
#include "service/rest/client.h"
#include "service/rest/export_cursor.h"
#include "service/grpc/convert.h"
#include "storage/schema.h"
#include "storage/soci_token_store.h"

extern char** environ;

namespace {

constexpr char kUsage[] =
    "usage: bitrix24-service [--config=FILE] [--key=value ...]\n"
    "       bitrix24-service schema init|migrate|show [--dialect=D] [--dry-run] [--key=value ...]\n"
    "Runs the Bitrix24 gateway. Every configuration key can be set in the YAML file,\n"
    "as an environment variable or as a flag (see docs/configuration.md):\n";

// The only place that picks the store implementation.
absl::StatusOr<std::unique_ptr<b24::storage::TokenStore>> OpenStore(const b24::Config& config,
                                                                    const std::map<std::string, std::string>& env,
                                                                    b24::Clock& clock, b24::Logger& log) {
  b24::storage::StoreOptions options = config.store;
  absl::StatusOr<std::optional<b24::storage::Keyring>> ring =
      b24::storage::KeyringFromEnvironment(options.encryption_key_env, env);
  if (!ring.ok()) return ring.status();
  options.keyring = *std::move(ring);
  // The embedded default creates its own file and table; a shared database
  // gets its table from an explicit `bitrix24-service schema init`.
  options.create_if_missing = absl::StartsWith(options.connection, "sqlite3://");
  options.now = [&clock] { return clock.Now(); };
  auto store = b24::storage::SociTokenStore::Open(options);
  if (!store.ok()) return store.status();
  for (const std::string& column : (*store)->missing_columns()) {
    log.Warning("token table lacks the optional column ", column,
                "; run `bitrix24-service schema migrate` to add it (see docs/storage.md)");
  }
  return std::unique_ptr<b24::storage::TokenStore>(std::move(*store));
}

// Identifies this process in refresh leases shared through the store.
std::string LeaseOwner() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", getpid(), ":", absl::ToUnixNanos(absl::Now()) % 1000000007);
}

// The key that signs GetAll cursors: its own variable, else derived from the
// store's encryption key, else random (cursors then die with the process).
std::string CursorKey(const b24::Config& config, const std::map<std::string, std::string>& env, b24::Logger& log) {
  auto value = [&](const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  if (std::string key = value(config.security.cursor_key_env); !key.empty()) return key;
  if (std::string key = value(config.store.encryption_key_env); !key.empty()) return "b24-cursor-key:" + key;
  std::random_device random;
  std::string key;
  for (int i = 0; i < 32; ++i) key.push_back(static_cast<char>(random() & 0xff));
  log.Warning("neither ", config.security.cursor_key_env, " nor ", config.store.encryption_key_env,
              " is set: GetAll cursors are signed with a random key and cannot resume an export "
              "after a restart or on another replica");
  return key;
}

int Run(const b24::Config& config, const std::map<std::string, std::string>& env, b24::Logger& log,
        const sigset_t& signals) {
  b24::RealClock clock;
  b24::http::CurlOptions curl = config.http;
  curl.allow_loopback_addresses = config.security.allow_loopback;
  auto transport = std::make_unique<b24::http::CurlTransport>(curl);
  b24::exec::Executor executor(*transport, clock, log, config.limits);
  b24::http::HostPolicy policy(config.security.allowed_hosts, config.security.allow_http,
                               config.security.allow_loopback);
  b24::rest::RestClient rest(executor, policy, clock, log, config.rest);
  b24::rest::ExportCursor cursors(CursorKey(config, env, log));
  // store.url=none: webhooks only, no token store (Install, ListPortals and
  // RemovePortal answer FAILED_PRECONDITION NO_TOKEN_STORE; a member_id is
  // NOT_FOUND UNKNOWN_PORTAL).
  std::unique_ptr<b24::storage::TokenStore> store;
  std::unique_ptr<b24::auth::OAuthManager> oauth;
  std::unique_ptr<b24::app::Installer> installer;
  if (config.store.connection != "none") {
    absl::StatusOr<std::unique_ptr<b24::storage::TokenStore>> opened = OpenStore(config, env, clock, log);
    if (!opened.ok()) {
      log.Error("cannot open the token store: ", opened.status().message());
      return 2;
    }
    store = *std::move(opened);
    b24::auth::OAuthOptions oo = config.oauth;
    oo.owner = LeaseOwner();
    oauth = std::make_unique<b24::auth::OAuthManager>(*store, *transport, policy, clock, log, oo);
    installer = std::make_unique<b24::app::Installer>(*oauth, rest, clock);
    rest.SetRenameHook([&](const b24::rest::Portal& portal, const std::string& new_base_url) {
      if (!portal.tokens) return;  // webhooks: the caller's URL is the caller's business
      auto url = b24::http::ParseUrl(new_base_url);
      if (!url.ok()) return;
      // Called on the transport thread: the database write goes to the store's worker.
      oauth->worker().Post([&, id = portal.id, host = url->HostPort(), new_base_url] {
        if (absl::Status s = store->UpdateDomain(id, host, new_base_url); !s.ok()) {
          log.Warning("cannot store the new domain of ", id, ": ", s.message());
        }
        oauth->Forget(id);
      });
    });
  } else {
    log.Info("store.url=none: webhooks only, without a token store");
  }
  b24::auth::PortalDirectory portals(policy, config.webhooks, oauth.get());
  if (absl::Status s = portals.Validate(); !s.ok()) {
    log.Error("bad configuration: ", s.message());
    return 2;
  }
  b24::grpcapi::Bitrix24ServiceImpl service(rest, cursors, portals, oauth.get(), installer.get(), clock, log,
                                            config.grpc);
  std::unique_ptr<b24::metrics::Metrics> metrics;
  if (!config.metrics.listen.empty()) metrics = std::make_unique<b24::metrics::Metrics>(config.metrics);
  if (metrics) {
    if (absl::Status s = metrics->Serve({&executor, oauth.get(), &service.stream_counters(), &log}); !s.ok()) {
      log.Error(s.message());
      return 2;
    }
    std::string mhost = config.metrics.listen.substr(0, config.metrics.listen.rfind(':'));
    log.Info("metrics on http://", mhost, ":", metrics->port(), "/metrics");
  }
  b24::grpcapi::InstallProtobufLogHandler();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Declared before the server, which it must outlive (the credentials point at it).
  std::unique_ptr<b24::tls::ReloadableServerCredentials> tls;
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!config.server.tls_cert_file.empty()) {
    absl::StatusOr<std::unique_ptr<b24::tls::ReloadableServerCredentials>> loaded =
        b24::tls::ReloadableServerCredentials::Create(
            {config.server.tls_cert_file, config.server.tls_key_file, config.server.tls_client_ca_file});
    if (!loaded.ok()) {
      log.Error("cannot use the TLS files: ", loaded.status().message());
      return 2;
    }
    tls = *std::move(loaded);
    creds = tls->Credentials();
  }
  int port = 0;
  builder.AddListeningPort(config.server.listen, creds, &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.grpc.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.grpc.max_message_bytes));
  if (metrics) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(metrics->InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    log.Error("cannot listen on ", config.server.listen, " (address in use or invalid?)");
    return 1;
  }
  // Health by service name too ("bitrix24.v1.Bitrix24Service"), as gRPC health clients ask.
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(b24::grpcapi::kServiceName, true);
  // NOT_SERVING while the token store does not answer (a webhook-only
  // gateway, store.url=none, has none to watch).
  b24::Worker health_worker;
  std::unique_ptr<b24::app::StoreHealth> store_health;
  if (store) {
    store_health = std::make_unique<b24::app::StoreHealth>(
        [&] { return store->Ping(); }, [&](std::function<void()> fn) { health_worker.Post(std::move(fn)); }, clock, log,
        config.health,
        [health](bool serving, const std::string&) {
          health->SetServingStatus(serving);
          health->SetServingStatus(b24::grpcapi::kServiceName, serving);
        });
    store_health->Start();
  }
  std::string host = config.server.listen.substr(0, config.server.listen.rfind(':'));
  log.Info("bitrix24-service listening on ", host, ":", port);

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    // SIGHUP: re-read the TLS files; new connections get them, open ones
    // (and their streams) keep what they were made with.
    if (!tls) {
      log.Info("SIGHUP: TLS is not configured, nothing to reload");
    } else if (absl::Status s = tls->Reload(); !s.ok()) {
      log.Warning("SIGHUP: TLS files not reloaded, still serving the previous certificate: ", s.message());
    } else {
      log.Info("SIGHUP: TLS files reloaded (generation ", tls->generation(), "); new connections use them");
    }
  }
  log.Info("received signal ", sig, "; draining in-flight calls for up to ",
           absl::FormatDuration(config.server.shutdown_grace));
  if (store_health) store_health->Stop();
  health->Shutdown();  // NOT_SERVING for every service from now on
  if (config.server.shutdown_delay > absl::ZeroDuration()) {
    // Still accepting calls while probes and load balancers see NOT_SERVING;
    // a second SIGTERM or SIGINT ends the wait.
    log.Info("health is NOT_SERVING; accepting calls for ", absl::FormatDuration(config.server.shutdown_delay),
             " more before the drain");
    timespec wait = absl::ToTimespec(config.server.shutdown_delay);
    siginfo_t info;
    while (sigtimedwait(&signals, &info, &wait) == SIGHUP) {
    }
  }
  std::mutex mu;
  std::condition_variable cv;
  bool drained = false;
  std::thread shutdown([&] {
    server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(config.server.shutdown_grace));
    std::lock_guard<std::mutex> lock(mu);
    drained = true;
    cv.notify_all();
  });
  {
    // Shutdown() returns only when every call has finished; calls still waiting
    // for a portal after the grace period are ended here.
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, absl::ToChronoNanoseconds(config.server.shutdown_grace + absl::Seconds(1)),
                     [&] { return drained; })) {
      lock.unlock();
      log.Warning("grace period over: cancelling calls still in progress");
      executor.CancelAll(absl::UnavailableError("bitrix24-service is shutting down"));
      transport->Shutdown();
    }
  }
  shutdown.join();
  // Work no RPC waits for any more (a cancelled export's last request, a plan
  // probe, a refresh poll) must not call into what is destroyed next: stop
  // the queue, the transfers and the timers first, in that order.
  executor.CancelAll(absl::UnavailableError("bitrix24-service is shutting down"));
  transport->Shutdown();
  clock.Stop();
  log.Info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool schema = !args.empty() && args[0] == "schema";
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << kUsage << b24::DescribeConfig();
      return 0;
    }
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  absl::StatusOr<b24::Config> config = b24::LoadConfig(schema ? b24::storage::SchemaConfigArgs(args) : args, env);
  if (!config.ok()) {
    std::cerr << "bitrix24-service: " << config.status().message() << "\n";
    return 2;
  }
  if (schema) return b24::storage::RunSchemaCommand(args, config->store, std::cout, std::cerr);
  // Signals are taken by sigwait() in main; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  absl::StatusOr<std::unique_ptr<b24::Logger>> log = b24::Logger::Open(config->log);
  if (!log.ok()) {
    std::cerr << "bitrix24-service: " << log.status().message() << "\n";
    return 2;
  }
  return Run(*config, env, **log, signals);
}
