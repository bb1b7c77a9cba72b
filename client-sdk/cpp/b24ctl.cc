// b24ctl: the command-line client of Bitrix24Service. `b24ctl --help` and
// `b24ctl <command> --help` describe every option; client-sdk/cpp/README.md has
// examples. Exit status (stable, for scripts):
//   0 ok · 1 an RPC failed · 2 bad usage · 3 the portal must be reinstalled ·
//   4 a limit or deadline (QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT,
//   DEADLINE_BEFORE_SEND, DEADLINE_EXCEEDED) · 130 interrupted (getall prints the
//   cursor to resume from).
#include <signal.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client-sdk/cpp/client.h"

namespace {

namespace v1 = bitrix24::v1;
using b24::client::Client;
using b24::client::Error;
using Json = nlohmann::ordered_json;

// The exit codes, named once (also in --help and client-sdk/cpp/README.md).
enum Exit : int {
  kOk = 0,
  kRpcError = 1,
  kUsage = 2,
  kReinstall = 3,
  kLimit = 4,
  kInterrupted = 130,
};

constexpr char kExitHelp[] =
    "Exit status: 0 ok, 1 an RPC failed, 2 bad usage, 3 the portal must be reinstalled,\n"
    "4 a limit or deadline (QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT, DEADLINE_BEFORE_SEND,\n"
    "DEADLINE_EXCEEDED), 130 interrupted (getall prints the cursor to resume from).\n"
    "<portal>: a webhook URL, a member_id (32 hex digits) or the name of a configured webhook.";

struct Globals {
  std::string target = "127.0.0.1:50051";
  double timeout = 60;
  std::string output = "text";  // text | json
  std::string ca_file;
  std::vector<std::string> headers;  // KEY=VALUE
  bool json() const { return output == "json"; }
};

// JSON text from a value, an @file or - (standard input).
bool ReadArgument(const std::string& arg, std::string* out, std::string* error) {
  if (arg == "-") {
    out->assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  if (!arg.empty() && arg[0] == '@') {
    std::ifstream in(arg.substr(1), std::ios::binary);
    if (!in) {
      *error = absl::StrCat("cannot read ", arg.substr(1));
      return false;
    }
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return true;
  }
  *out = arg;
  return true;
}

int UsageError(const std::string& message) {
  std::cerr << "b24ctl: " << message << "\n";
  return kUsage;
}

const char* GrpcCodeName(grpc::StatusCode code) {
  static const char* kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// Prints a failed call to stderr and returns its exit status.
int Fail(const Globals& g, const absl::Status& status) {
  // A status without the gRPC message payload never left this process: the
  // arguments did not parse (bad params JSON, ...).
  if (!status.GetPayload("bitrix24service/grpc-message").has_value()) return UsageError(std::string(status.message()));
  Error e = b24::client::Classify(status);
  if (g.json()) {
    Json err = {{"grpc_code", GrpcCodeName(e.grpc_code)},
                {"code", e.code},
                {"domain", e.domain},
                {"message", e.message},
                {"description", e.description},
                {"may_have_executed", e.may_have_executed},
                {"needs_reinstall", e.kind == Error::Kind::kNeedsReinstall},
                {"metadata", e.metadata}};
    std::cerr << Json{{"error", err}}.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  } else {
    // The Bitrix24 code as the portal sent it: nothing when it sent an empty one.
    std::cerr << "error: " << GrpcCodeName(e.grpc_code) << (e.code.empty() ? "" : " ") << e.code << ": " << e.message
              << "\n";
    if (e.may_have_executed) std::cerr << "note: the write may have been executed; check before repeating it\n";
    if (e.kind == Error::Kind::kNeedsReinstall) {
      std::cerr << "note: the app must be reinstalled on this portal (its refresh token was rejected)\n";
    }
  }
  switch (e.kind) {
    case Error::Kind::kNeedsReinstall:
      return kReinstall;
    case Error::Kind::kLimit:
      return kLimit;
    default:
      return kRpcError;
  }
}

// Prints a JSON text: pretty in text mode, one line in json mode.
void PrintJson(const Globals& g, const std::string& text) {
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    std::cout << text << "\n";
    return;
  }
  std::cout << doc.dump(g.json() ? -1 : 2, ' ', false, Json::error_handler_t::replace) << "\n";
}

b24::client::CallOptions CallOpts(const Globals& g) {
  b24::client::CallOptions o;
  o.timeout = absl::Seconds(g.timeout);
  return o;
}

// --- getall ------------------------------------------------------------------

// The stream that SIGINT/SIGTERM cancel (set only while getall reads).
std::mutex g_stream_mu;
b24::client::GetAllStream* g_stream = nullptr;
std::atomic<bool> g_interrupted{false};

void StartSignalThread() {
  std::thread([] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    for (;;) {
      if (sigwait(&set, &sig) != 0) continue;
      g_interrupted = true;
      std::lock_guard<std::mutex> lock(g_stream_mu);
      if (g_stream == nullptr) std::_Exit(kInterrupted);  // a unary call: nothing to keep
      g_stream->Cancel();
    }
  }).detach();
}

std::string WithThousands(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  void Update(int64_t items, int64_t requests, bool final) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    int64_t rate = elapsed > 0 ? static_cast<int64_t>(items / elapsed) : 0;
    int secs = static_cast<int>(elapsed);
    std::string line =
        absl::StrFormat("\r\x1b[K%s items  %s items/s  %d:%02d elapsed  %s HTTP requests", WithThousands(items),
                        WithThousands(rate), secs / 60, secs % 60, WithThousands(requests));
    std::fputs(line.c_str(), stderr);
    if (final) std::fputs("\n", stderr);
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

struct GetAllArgs {
  std::string portal, method, params, resume, output_file;
  int64_t limit = 0;
  int parallel = 0;
  bool no_progress = false;
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int RunGetAll(const Globals& g, Client& client, const GetAllArgs& a) {
  std::string params, error;
  if (!a.params.empty() && !ReadArgument(a.params, &params, &error)) return UsageError(error);
  std::FILE* out = stdout;
  if (!a.output_file.empty() && a.output_file != "-") {
    out = std::fopen(a.output_file.c_str(), "w");
    if (out == nullptr) return UsageError(absl::StrCat("cannot write ", a.output_file));
  }
  std::vector<char> buffer(1 << 16);
  std::setvbuf(out, buffer.data(), _IOFBF, buffer.size());
  // Like curl: a progress line when stderr is a terminal and the items do not go to it.
  bool progress_on = !a.no_progress && isatty(STDERR_FILENO) && (out != stdout || !isatty(STDOUT_FILENO));
  Progress progress(progress_on);

  b24::client::GetAllOptions options;
  options.limit = a.limit;
  options.cursor = a.resume;
  options.max_parallel_ranges = a.parallel;
  b24::client::GetAllStream stream = client.GetAll(b24::client::ParsePortal(a.portal), a.method, params, options);
  {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    g_stream = &stream;
  }
  std::string item;
  bool write_failed = false;
  while (stream.Next(&item)) {
    item += '\n';
    if (std::fwrite(item.data(), 1, item.size(), out) != item.size()) {
      write_failed = true;  // e.g. a closed pipe (`| head`): stop the export
      stream.Cancel();
      break;
    }
    progress.Update(stream.items(), stream.http_requests(), false);
  }
  {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    g_stream = nullptr;
  }
  progress.Update(stream.items(), stream.http_requests(), true);
  bool flushed = std::fflush(out) == 0;
  if (out != stdout) std::fclose(out);
  if (write_failed || !flushed) return kRpcError;

  auto resume_hint = [&] {
    if (stream.cursor().empty()) return;
    if (g.json()) {
      std::cerr << Json{{"items", stream.items()}, {"cursor", stream.cursor()}}.dump() << "\n";
    } else {
      std::cerr << "resume with: b24ctl getall " << ShellQuote(a.portal) << " " << a.method
                << (a.params.empty() ? "" : " " + ShellQuote(a.params)) << " --resume " << stream.cursor() << "\n";
    }
  };
  if (g_interrupted) {
    std::cerr << "interrupted after " << stream.items() << " items\n";
    resume_hint();
    return kInterrupted;
  }
  if (!stream.status().ok()) {
    int code = Fail(g, stream.status());
    resume_hint();
    return code;
  }
  if (g.json()) {
    std::cerr << Json{{"items", stream.items()}, {"http_requests", stream.http_requests()}}.dump() << "\n";
  }
  return kOk;
}

// --- install -----------------------------------------------------------------

struct InstallArgs {
  std::string client_id, client_secret, client_secret_env = "B24_CLIENT_SECRET", fields_file;
  std::vector<std::string> fields;  // KEY=VALUE
  bool event = false;
};

int RunInstall(const Globals& g, Client& client, const InstallArgs& a) {
  std::map<std::string, std::string> fields;
  if (!a.fields_file.empty()) {
    std::string text, error;
    if (!ReadArgument(a.fields_file, &text, &error)) return UsageError(error);
    Json doc = Json::parse(text, nullptr, false);
    if (!doc.is_object()) return UsageError("--fields must be a JSON object of form fields {\"name\": \"value\"}");
    for (const auto& [k, v] : doc.items()) fields[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  for (const std::string& kv : a.fields) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return UsageError(absl::StrCat("--field wants NAME=VALUE, got ", kv));
    fields[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (fields.empty()) return UsageError("give the form fields Bitrix24 sent with --field NAME=VALUE or --fields @FILE");
  std::string secret = a.client_secret;
  if (secret.empty()) {
    const char* env = std::getenv(a.client_secret_env.c_str());
    if (env == nullptr || *env == '\0') {
      return UsageError(absl::StrCat("the app's client secret: set ", a.client_secret_env, " or --client-secret"));
    }
    secret = env;
  }
  v1::InstallRequest request;
  request.mutable_app()->set_client_id(a.client_id);
  request.mutable_app()->set_client_secret(secret);
  auto* target = a.event ? request.mutable_onappinstall()->mutable_fields() : request.mutable_ui()->mutable_fields();
  for (const auto& [k, v] : fields) (*target)[k] = v;
  auto out = client.Install(request, CallOpts(g));
  if (!out.ok()) return Fail(g, out.status());
  if (g.json()) {
    std::cout
        << Json{{"member_id", out->member_id()}, {"domain", out->domain()}, {"finish_html", out->finish_html()}}.dump()
        << "\n";
  } else {
    std::cout << "installed " << out->domain() << " (member_id " << out->member_id() << ")\n";
  }
  return kOk;
}

// --- portals -----------------------------------------------------------------

Json PortalJson(const v1::PortalInfo& p) {
  const char* kind = p.kind() == v1::PortalInfo::KIND_OAUTH ? "oauth" : "webhook";
  return Json{{"id", p.id()},
              {"domain", p.domain()},
              {"kind", kind},
              {"access_expires_at", p.access_expires_at()},
              {"needs_reinstall", p.needs_reinstall()}};
}

int RunPortals(const Globals& g, Client& client, const std::string& action, const std::string& id) {
  if (action == "remove") {
    auto removed = client.RemovePortal(id, CallOpts(g));
    if (!removed.ok()) return Fail(g, removed.status());
    if (g.json()) {
      std::cout << Json{{"removed", *removed}}.dump() << "\n";
    } else {
      std::cout << (*removed ? "removed " : "no stored portal ") << id << "\n";
    }
    return *removed ? kOk : kRpcError;
  }
  auto list = client.ListPortals(CallOpts(g));
  if (!list.ok()) return Fail(g, list.status());
  if (action == "show") {
    for (const auto& p : list->portals()) {
      if (p.id() != id && p.domain() != id) continue;
      Json j = PortalJson(p);
      std::cout << j.dump(g.json() ? -1 : 2) << "\n";
      return kOk;
    }
    std::cerr << "error: NOT_FOUND: no portal with id or domain " << id << "\n";
    return kRpcError;
  }
  if (g.json()) {
    Json all = Json::array();
    for (const auto& p : list->portals()) all.push_back(PortalJson(p));
    std::cout << all.dump() << "\n";
    return kOk;
  }
  std::cout << absl::StrFormat("%-34s %-8s %-16s %s\n", "ID", "KIND", "STATE", "DOMAIN");
  for (const auto& p : list->portals()) {
    std::cout << absl::StrFormat("%-34s %-8s %-16s %s\n", p.id(),
                                 p.kind() == v1::PortalInfo::KIND_OAUTH ? "oauth" : "webhook",
                                 p.needs_reinstall() ? "needs-reinstall" : "ok", p.domain());
  }
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals go to one thread that cancels a running export; block them before
  // gRPC starts threads so that they inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed pipe is an fwrite error, not a silent death

  Globals g;
  if (const char* t = std::getenv("B24_TARGET"); t != nullptr && *t != '\0') g.target = t;
  CLI::App app{"b24ctl: the command-line client of Bitrix24Service"};
  app.footer(kExitHelp);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command (getall's own -o/--output wins there)
  app.add_option("--target", g.target, "gateway address host:port ($B24_TARGET)")->capture_default_str();
  app.add_option("--timeout", g.timeout, "deadline of a call, seconds (getall: none)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--output", g.output, "text (for people) or json (one line, for scripts; errors too, on stderr)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--ca-file", g.ca_file, "PEM CA bundle: connect with TLS and verify the gateway")
      ->check(CLI::ExistingFile);
  app.add_option("-H,--header", g.headers, "gRPC metadata KEY=VALUE sent with every call (repeatable)");

  std::string portal, method, params, commands, member_id, portal_id, health_service;
  bool halt = false;
  auto* call = app.add_subcommand("call", "call one REST method and print its response");
  call->add_option("portal", portal, "the portal")->required();
  call->add_option("method", method, "REST method, e.g. crm.deal.get")->required();
  call->add_option("params", params, "params: a JSON object, @FILE or - (stdin)");

  auto* batch = app.add_subcommand("batch", "run commands through batch (more than 50 are split)");
  batch->add_option("portal", portal, "the portal")->required();
  batch
      ->add_option("commands", commands,
                   "JSON list [{\"key\",\"method\",\"params\"}] or object {key: {\"method\",\"params\"}}, "
                   "@FILE or -; params may use $result[key][...]")
      ->required();
  batch->add_flag("--halt", halt, "stop at the first failing command");

  GetAllArgs ga;
  auto* getall = app.add_subcommand("getall", "stream every item of a list method as JSON Lines");
  getall->add_option("portal", ga.portal, "the portal")->required();
  getall->add_option("method", ga.method, "list method, e.g. crm.deal.list")->required();
  getall->add_option("params", ga.params, "filter/select/order: a JSON object, @FILE or -");
  getall->add_option("--limit", ga.limit, "stop after N items (0 = all)")->check(CLI::NonNegativeNumber);
  getall->add_option("--resume", ga.resume, "continue an interrupted export from its printed cursor");
  getall->add_option("--parallel", ga.parallel, "ID ranges exported at once (0 = gateway decides, 1 = ordered)")
      ->check(CLI::Range(0, 16));
  getall->add_option("-o,--output", ga.output_file, "write items to FILE instead of stdout");
  getall->add_flag("--no-progress", ga.no_progress, "no progress line on a terminal");

  InstallArgs ia;
  auto* install = app.add_subcommand("install", "store a portal from what Bitrix24 sent to the app's install handler");
  install->add_option("--client-id", ia.client_id, "the app's client_id")->required();
  install->add_option("--client-secret", ia.client_secret, "the app's client_secret (prefer the environment)");
  install->add_option("--client-secret-env", ia.client_secret_env, "environment variable with the client secret")
      ->capture_default_str();
  install->add_option("--field", ia.fields, "a form field NAME=VALUE (repeatable)");
  install->add_option("--fields", ia.fields_file, "form fields as a JSON object: @FILE or -");
  install->add_flag("--event", ia.event, "the fields are an ONAPPINSTALL event (auth[...]), not the UI install POST");

  auto* portals = app.add_subcommand("portals", "the portals the gateway knows");
  portals->require_subcommand(1);
  portals->add_subcommand("list", "list them");
  auto* show = portals->add_subcommand("show", "one portal by id or domain");
  show->add_option("id", portal_id, "member_id, webhook name or domain")->required();
  auto* remove = portals->add_subcommand("remove", "forget an installed portal");
  remove->add_option("member_id", member_id, "its member_id")->required();

  auto* health = app.add_subcommand("health", "the gateway's gRPC health status (exit 1 unless SERVING)");
  health->add_option("service", health_service, "service name ('' = the whole server)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }

  b24::client::ClientOptions options;
  options.timeout = absl::Seconds(g.timeout);
  for (const std::string& h : g.headers) {
    size_t eq = h.find('=');
    if (eq == std::string::npos || eq == 0) return UsageError(absl::StrCat("--header wants KEY=VALUE, got ", h));
    options.metadata.emplace_back(h.substr(0, eq), h.substr(eq + 1));
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!g.ca_file.empty()) {
    std::ifstream in(g.ca_file);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    creds = grpc::SslCredentials(ssl);
  }
  Client client(grpc::CreateChannel(g.target, creds), options);
  StartSignalThread();

  std::string error;
  if (*call) {
    std::string body;
    if (!params.empty() && !ReadArgument(params, &body, &error)) return UsageError(error);
    auto out = client.Call(b24::client::ParsePortal(portal), method, body, CallOpts(g));
    if (!out.ok()) return Fail(g, out.status());
    PrintJson(g, *out);
    return kOk;
  }
  if (*batch) {
    std::string body;
    if (!ReadArgument(commands, &body, &error)) return UsageError(error);
    auto out = client.Batch(b24::client::ParsePortal(portal), body, halt, CallOpts(g));
    if (!out.ok()) return Fail(g, out.status());
    PrintJson(g, *out);
    return kOk;
  }
  if (*getall) return RunGetAll(g, client, ga);
  if (*install) return RunInstall(g, client, ia);
  if (*portals) {
    if (*show) return RunPortals(g, client, "show", portal_id);
    if (*remove) return RunPortals(g, client, "remove", member_id);
    return RunPortals(g, client, "list", "");
  }
  if (*health) {
    auto status = client.Health(health_service, CallOpts(g));
    if (!status.ok()) return Fail(g, status.status());
    if (g.json()) {
      std::cout << Json{{"status", *status}}.dump() << "\n";
    } else {
      std::cout << *status << "\n";
    }
    return *status == "SERVING" ? kOk : kRpcError;
  }
  return kUsage;
}
