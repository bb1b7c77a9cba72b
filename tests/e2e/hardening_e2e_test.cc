// Hardening regressions: the real bitrix24-service binary over real gRPC, in
// front of one well-behaved portal (the emulator) and one hostile upstream
// that answers whatever a test programs (huge, deep, compressed, non-UTF-8,
// slow, not-an-envelope...). Each test checks the caller gets a clear status
// with the right ErrorInfo reason, and that the process survived; where a
// hostile answer is in play, a heartbeat on the good portal must keep flowing.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client-sdk/cpp/client.h"
#include "tests/testing/emulator/emulator.h"
#include "tests/testing/http_server.h"
#include "tests/testing/service_process.h"

namespace b24 {
namespace {

using grpc::StatusCode;
using testing::Emulator;
using testing::Fault;
using testing::HttpServer;
using testing::HttpServerRequest;
using testing::HttpServerResponse;
using testing::ServiceProcess;
namespace v1 = bitrix24::v1;
using Json = nlohmann::json;

constexpr char kAppId[] = "local.app.1";
constexpr char kAppSecret[] = "secret1";
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// ------------------------------------------------------------------ helpers

std::chrono::system_clock::time_point In(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
}

std::string Tail(const std::string& s, size_t n = 4000) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

std::string Lower(const std::string& s) { return absl::AsciiStrToLower(s); }

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Alive and not a zombie: kill(pid, 0) alone also succeeds for a child that
// died and was not reaped yet.
bool Alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  std::getline(in, stat);
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

// Peak resident set (VmHWM) of a process in KiB; -1 when unknown.
int64_t PeakRssKb(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmHWM:")) return std::stoll(line.substr(6));
  }
  return -1;
}

google::protobuf::Struct StructOf(const std::string& json) {
  google::protobuf::Struct s;
  if (json.empty()) return s;
  if (auto st = google::protobuf::util::JsonStringToMessage(json, &s); !st.ok()) {
    ADD_FAILURE() << "bad test params " << json << ": " << st.ToString();
  }
  return s;
}

std::string Describe(const grpc::Status& s) {
  auto info = client::ErrorInfoOf(s);
  return absl::StrCat("code ", static_cast<int>(s.error_code()), ", reason ", info ? info->reason : "(no ErrorInfo)",
                      ": ", s.error_message().substr(0, 500));
}

// The status has this code and an ErrorInfo with this reason.
::testing::AssertionResult IsError(const grpc::Status& s, StatusCode code, const std::string& reason) {
  auto info = client::ErrorInfoOf(s);
  if (s.error_code() == code && info && info->reason == reason) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected code " << static_cast<int>(code) << " with reason " << reason
                                       << ", got " << Describe(s);
}

HttpServerResponse Answer(int status, std::string body, std::string type = "application/json; charset=utf-8") {
  HttpServerResponse r;
  r.status = status;
  r.headers = {{"Content-Type", std::move(type)}};
  r.body = std::move(body);
  return r;
}

// {"first": first, "last": last} as the portal's `batch` answers a probe.
std::string BatchEnvelope(const Json& first, const Json& last) {
  Json result = {{"result", {{"first", first}, {"last", last}}},
                 {"result_error", Json::array()},
                 {"result_total", {{"first", first.size()}, {"last", last.size()}}},
                 {"result_next", Json::array()},
                 {"result_time", Json::array()}};
  return Json{{"result", result}, {"time", Json::object()}}.dump();
}

std::string DeepArrays(int depth) {
  return absl::StrCat("{\"result\":", std::string(depth, '['), std::string(depth, ']'), "}");
}

std::string DeepObjects(int depth) {
  std::string s = "{\"result\":";
  s.reserve(s.size() + depth * 6 + 2);
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s.append(depth, '}');
  return s + "}";
}

// gzip of {"result":"aaaa…"} with 128 MiB of 'a' (about 128 KiB compressed),
// built in 1 MiB steps so the test itself never holds the plain text.
const std::string& GzipBomb() {
  static const std::string* bomb = [] {
    auto* out = new std::string;
    z_stream z{};
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return out;
    std::vector<unsigned char> buf(1 << 16);
    auto feed = [&](const std::string& in, int flush) {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      z.avail_in = static_cast<uInt>(in.size());
      do {
        z.next_out = buf.data();
        z.avail_out = static_cast<uInt>(buf.size());
        deflate(&z, flush);
        out->append(reinterpret_cast<const char*>(buf.data()), buf.size() - z.avail_out);
      } while (z.avail_out == 0);
    };
    const std::string chunk(1 << 20, 'a');
    feed("{\"result\":\"", Z_NO_FLUSH);
    for (int i = 0; i < 128; ++i) feed(chunk, Z_NO_FLUSH);
    feed("\"}", Z_FINISH);
    deflateEnd(&z);
    return out;
  }();
  return *bomb;
}

// ------------------------------------------------------------ hostile upstream

// An upstream that answers what each test programs, by REST method (the last
// path segment of /rest/1/hostilecode/<method>, without ".json"). It counts
// requests per method and the peak number of handlers running at once (a
// handler may sleep inside itself: every connection has its own thread).
// Unprogrammed methods answer 404 ERROR_METHOD_NOT_FOUND.
class HostileUpstream {
 public:
  using Handler = std::function<HttpServerResponse(const HttpServerRequest&)>;

  HostileUpstream() : server_([this](const HttpServerRequest& req, HttpServerResponse* resp) { Serve(req, resp); }) {}

  absl::Status Start() { return server_.Start(0); }
  void Stop() { server_.Stop(); }
  int port() const { return server_.port(); }
  std::string WebhookUrl() const { return absl::StrCat("http://127.0.0.1:", port(), "/rest/1/hostilecode/"); }

  void On(const std::string& method, Handler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    handlers_[method] = std::move(handler);
  }
  // Always the same answer.
  void Answer(const std::string& method, HttpServerResponse response) {
    auto shared = std::make_shared<const HttpServerResponse>(std::move(response));
    On(method, [shared](const HttpServerRequest&) { return *shared; });
  }

  int Requests(const std::string& method) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = requests_.find(method);
    return it == requests_.end() ? 0 : it->second;
  }
  int TotalRequests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return total_;
  }
  int PeakConcurrency() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }

  static std::string MethodOf(std::string path) {
    while (!path.empty() && path.back() == '/') path.pop_back();
    std::string method = path.substr(path.rfind('/') + 1);  // npos + 1 == 0
    if (absl::EndsWith(method, ".json")) method.resize(method.size() - 5);
    return method;
  }

 private:
  void Serve(const HttpServerRequest& req, HttpServerResponse* resp) {
    std::string method = MethodOf(req.path);
    Handler handler;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++requests_[method];
      ++total_;
      peak_ = std::max(peak_, ++running_);
      if (auto it = handlers_.find(method); it != handlers_.end()) handler = it->second;
    }
    *resp = handler ? handler(req)
                    : b24::Answer(404, R"({"error":"ERROR_METHOD_NOT_FOUND","error_description":"Method not found!"})");
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }

  mutable std::mutex mu_;
  std::map<std::string, Handler> handlers_;
  std::map<std::string, int> requests_;
  int total_ = 0, running_ = 0, peak_ = 0;
  HttpServer server_;  // last: stopped and joined before the state above goes away
};

// ------------------------------------------------------------------ fixture

class HardeningE2eTest : public ::testing::Test {
 protected:
  struct Command {
    std::string key, method, params;
  };
  struct Export {
    grpc::Status status;
    std::vector<std::string> items_json;
    int structs = 0;     // items received as Struct (FORMAT_STRUCT)
    std::string cursor;  // the last non-empty cursor
  };

  void SetUp() override {
    testing::EmulatorOptions eo;
    eo.apps = {{kAppId, kAppSecret}};
    emulator_ = std::make_unique<Emulator>(clock_, eo);
    ASSERT_TRUE(emulator_->Start().ok());
    testing::PortalOptions po;
    po.seed.deals = 300;
    po.seed.contacts = 300;
    po.webhooks.push_back({1, "goodcode"});
    po.rate_limit.enabled = false;  // the heartbeat calls ~20 times a second for real
    auto good = emulator_->AddPortal(po);
    ASSERT_TRUE(good.ok()) << good.status();
    good_ = *good;
    ASSERT_TRUE(hostile_.Start().ok());
    db_ = absl::StrCat(::testing::TempDir(), "/hardening-", getpid(), "-",
                       ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".db");
    std::remove(db_.c_str());
  }

  void TearDown() override {
    StopHeartbeat();
    client_.reset();
    if (service_) {
      EXPECT_TRUE(Alive(service_->pid())) << "bitrix24-service died:\n" << Tail(service_->Log());
      int code = service_->Stop();
      EXPECT_EQ(code, 0) << Tail(service_->Log());
    }
    hostile_.Stop();
    std::remove(db_.c_str());
  }

  std::vector<std::string> BaseFlags() const {
    return {"--security.allow_loopback=true", "--security.allow_http=true", "--store.url=sqlite3://db=" + db_,
            "--webhooks.good=" + good_.WebhookUrl(1, "goodcode"), "--webhooks.hostile=" + hostile_.WebhookUrl(),
            "--retry.base_delay=10ms", "--shutdown_grace=10s",
            // The heartbeat's ~20 calls/s would be paced at 2/s by the
            // standard-plan bucket after its first 48; that is not under test.
            "--limits.burst=1000", "--limits.drain_per_second=1000"};
  }

  // Starts the gateway with the fixture's flags plus `extra` (later flags win).
  ::testing::AssertionResult StartService(const std::vector<std::string>& extra) {
    std::vector<std::string> flags = BaseFlags();
    flags.insert(flags.end(), extra.begin(), extra.end());
    return StartServiceWith(std::move(flags));
  }

  // Starts the gateway with exactly `flags`.
  ::testing::AssertionResult StartServiceWith(std::vector<std::string> flags) {
    auto svc = ServiceProcess::Start(B24_SERVICE_BINARY, std::move(flags));
    if (!svc.ok()) return ::testing::AssertionFailure() << svc.status();
    service_ = *std::move(svc);
    client_ = std::make_unique<client::Client>(client::Client::Insecure(service_->target(), absl::Seconds(30)));
    return ::testing::AssertionSuccess();
  }

  static v1::PortalRef Named(const std::string& name) {
    v1::PortalRef ref;
    ref.set_name(name);
    return ref;
  }
  static v1::PortalRef WebhookRef(const std::string& url) {
    v1::PortalRef ref;
    ref.set_webhook_url(url);
    return ref;
  }
  static v1::PortalRef Member(const std::string& member_id) {
    v1::PortalRef ref;
    ref.set_member_id(member_id);
    return ref;
  }
  static v1::PortalRef Good() { return Named("good"); }
  static v1::PortalRef Hostile() { return Named("hostile"); }

  grpc::Status CallStatus(const v1::PortalRef& ref, const std::string& method, const std::string& params = "",
                          absl::Duration timeout = absl::Seconds(20), v1::CallResponse* out = nullptr) {
    v1::CallRequest request;
    *request.mutable_portal() = ref;
    request.set_method(method);
    *request.mutable_params() = StructOf(params);
    grpc::ClientContext ctx;
    ctx.set_deadline(In(timeout));
    v1::CallResponse response;
    return client_->stub().Call(&ctx, request, out ? out : &response);
  }

  grpc::Status BatchStatus(const v1::PortalRef& ref, const std::vector<Command>& commands,
                           v1::BatchResponse* out = nullptr, absl::Duration timeout = absl::Seconds(20)) {
    v1::BatchRequest request;
    *request.mutable_portal() = ref;
    for (const Command& c : commands) {
      v1::BatchCommand* command = request.add_commands();
      command->set_key(c.key);
      command->set_method(c.method);
      *command->mutable_params() = StructOf(c.params);
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(In(timeout));
    v1::BatchResponse response;
    return client_->stub().Batch(&ctx, request, out ? out : &response);
  }

  static v1::GetAllRequest ExportOf(const v1::PortalRef& ref, const std::string& method, const std::string& params = "",
                                    int64_t limit = 0,
                                    v1::GetAllRequest::Format format = v1::GetAllRequest::FORMAT_JSON) {
    v1::GetAllRequest request;
    *request.mutable_portal() = ref;
    request.set_method(method);
    *request.mutable_params() = StructOf(params);
    request.set_limit(limit);
    request.set_format(format);
    return request;
  }

  Export RunExport(const v1::GetAllRequest& request, absl::Duration timeout = absl::Seconds(30)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(timeout));
    auto reader = client_->stub().GetAll(&ctx, request);
    Export out;
    v1::GetAllResponse msg;
    while (reader->Read(&msg)) {
      for (const std::string& item : msg.items_json()) out.items_json.push_back(item);
      out.structs += msg.items_size();
      if (!msg.cursor().empty()) out.cursor = msg.cursor();
    }
    out.status = reader->Finish();
    return out;
  }

  grpc::Status InstallStatus(const std::map<std::string, std::string>& fields) {
    v1::InstallRequest request;
    request.mutable_ui()->mutable_fields()->insert(fields.begin(), fields.end());
    request.mutable_app()->set_client_id(kAppId);
    request.mutable_app()->set_client_secret(kAppSecret);
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(20)));
    v1::InstallResponse response;
    return client_->stub().Install(&ctx, request, &response);
  }

  // The UI installation POST (form fields and query string) for `inst`.
  static std::map<std::string, std::string> UiFields(const testing::Installation& inst,
                                                     const std::string& server_endpoint) {
    return {{"AUTH_ID", inst.access_token},
            {"REFRESH_ID", inst.refresh_token},
            {"AUTH_EXPIRES", "3600"},
            {"member_id", inst.member_id},
            {"DOMAIN", inst.domain},
            {"SERVER_ENDPOINT", server_endpoint},
            {"APPLICATION_TOKEN", inst.application_token},
            {"PROTOCOL", "0"}};
  }

  // Adds an OAuth portal to the emulator, installs the app on it and in the
  // gateway (whose payload names `server_endpoint` as the OAuth server).
  void InstallOAuthPortal(const std::string& server_endpoint) {
    testing::PortalOptions po;
    po.seed.deals = 5;
    po.rate_limit.enabled = false;
    auto portal = emulator_->AddPortal(po);
    ASSERT_TRUE(portal.ok()) << portal.status();
    oauth_portal_ = *portal;
    auto inst = emulator_->Install(oauth_portal_.id, kAppId);
    ASSERT_TRUE(inst.ok()) << inst.status();
    inst_ = *inst;
    grpc::Status s = InstallStatus(UiFields(inst_, server_endpoint));
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // Sends raw bytes as the request message of Call.
  grpc::Status RawCall(const std::string& bytes) {
    auto channel = grpc::CreateChannel(service_->target(), grpc::InsecureChannelCredentials());
    grpc::GenericStub stub(channel);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(10)));
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, "/bitrix24.v1.Bitrix24Service/Call", grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  // ---- heartbeat: `profile` on the good portal every 50 ms, 2 s deadline.

  void StartHeartbeat() {
    StopHeartbeat();
    {
      std::lock_guard<std::mutex> lock(hb_mu_);
      hb_stop_ = false;
      hb_beats_ = hb_failures_ = 0;
      hb_max_latency_ = absl::ZeroDuration();
      hb_last_error_.clear();
    }
    heartbeat_ = std::thread([this, target = service_->target()] {
      auto c = client::Client::Insecure(target, absl::Seconds(2));
      v1::CallRequest request;
      *request.mutable_portal() = Good();
      request.set_method("profile");
      std::unique_lock<std::mutex> lock(hb_mu_);
      while (!hb_stop_) {
        lock.unlock();
        grpc::ClientContext ctx;
        ctx.set_deadline(In(absl::Seconds(2)));
        v1::CallResponse response;
        absl::Time start = absl::Now();
        grpc::Status s = c.stub().Call(&ctx, request, &response);
        absl::Duration latency = absl::Now() - start;
        lock.lock();
        ++hb_beats_;
        hb_max_latency_ = std::max(hb_max_latency_, latency);
        if (!s.ok()) {
          ++hb_failures_;
          hb_last_error_ = Describe(s);
        }
        hb_cv_.notify_all();
        hb_cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return hb_stop_; });
      }
    });
  }

  void StopHeartbeat() {
    {
      std::lock_guard<std::mutex> lock(hb_mu_);
      hb_stop_ = true;
    }
    hb_cv_.notify_all();
    if (heartbeat_.joinable()) heartbeat_.join();
  }

  // Waits (up to 15 s) for at least `min_beats`, stops the heartbeat and checks it.
  void ExpectHeartbeatHealthy(int min_beats = 5) {
    {
      std::unique_lock<std::mutex> lock(hb_mu_);
      hb_cv_.wait_for(lock, std::chrono::seconds(15), [&] { return hb_beats_ >= min_beats; });
    }
    StopHeartbeat();
    std::lock_guard<std::mutex> lock(hb_mu_);
    EXPECT_EQ(hb_failures_, 0) << "of " << hb_beats_ << " beats; last: " << hb_last_error_;
    EXPECT_GE(hb_beats_, min_beats);
    EXPECT_LT(hb_max_latency_, absl::Seconds(2));
  }

  RealClock clock_;
  std::unique_ptr<Emulator> emulator_;
  testing::PortalInfo good_;
  HostileUpstream hostile_;
  std::string db_;
  std::unique_ptr<ServiceProcess> service_;
  std::unique_ptr<client::Client> client_;
  testing::PortalInfo oauth_portal_;
  testing::Installation inst_;

  std::thread heartbeat_;
  std::mutex hb_mu_;
  std::condition_variable hb_cv_;
  bool hb_stop_ = true;
  int hb_beats_ = 0, hb_failures_ = 0;
  absl::Duration hb_max_latency_;
  std::string hb_last_error_;
};

// ------------------------------------------------------------------ tests

TEST_F(HardeningE2eTest, AnUnterminatedSecretInAHugeBodyIsRedactedInErrorsAndLogs) {
  hostile_.Answer("profile", Answer(502, "<html>\"access_token\":\"" + std::string(200'000, 'A'), "text/html"));
  ASSERT_TRUE(StartService({"--log.level=debug"}));
  StartHeartbeat();
  grpc::Status s = CallStatus(Hostile(), "profile");
  EXPECT_TRUE(IsError(s, StatusCode::UNAVAILABLE, "UPSTREAM_BAD_RESPONSE"));
  EXPECT_TRUE(absl::StrContains(s.error_message(), "***")) << s.error_message().substr(0, 300);
  EXPECT_FALSE(absl::StrContains(s.error_message(), "AAAAAAAAAA")) << s.error_message().substr(0, 300);
  ExpectHeartbeatHealthy();
  std::string log = service_->Log();
  EXPECT_FALSE(absl::StrContains(log, std::string(20, 'A')))
      << "the secret reached the log (" << log.size() << " bytes of log)";
}

TEST_F(HardeningE2eTest, DeeplyNestedJsonIsRefusedOnceForCallBatchAndGetAll) {
  ASSERT_TRUE(StartService({}));
  StartHeartbeat();
  auto refused = [](const grpc::Status& s) {
    EXPECT_TRUE(IsError(s, StatusCode::UNAVAILABLE, "UPSTREAM_BAD_RESPONSE"));
    EXPECT_TRUE(absl::StrContains(s.error_message(), "deeper than")) << s.error_message().substr(0, 300);
  };
  for (const std::string& body : {DeepArrays(100'000), DeepObjects(100'000)}) {
    SCOPED_TRACE(body.substr(0, 24));
    hostile_.Answer("profile", Answer(200, body));
    hostile_.Answer("batch", Answer(200, body));
    const int profile = hostile_.Requests("profile"), batch = hostile_.Requests("batch");

    refused(CallStatus(Hostile(), "profile"));
    EXPECT_EQ(hostile_.Requests("profile"), profile + 1) << "not retried";

    refused(BatchStatus(Hostile(), {{"d", "crm.deal.get", R"({"id": 1})"}}));
    EXPECT_EQ(hostile_.Requests("batch"), batch + 1) << "not retried";

    Export e = RunExport(ExportOf(Hostile(), "crm.deal.list"));
    refused(e.status);
    EXPECT_TRUE(e.items_json.empty());
    EXPECT_EQ(hostile_.Requests("batch"), batch + 2) << "not retried";
  }
  ExpectHeartbeatHealthy();
}

TEST_F(HardeningE2eTest, AGzipBombIsCutOffAtTheResponseLimit) {
  HttpServerResponse bomb = Answer(200, GzipBomb());
  ASSERT_GT(bomb.body.size(), 1000u);
  bomb.headers.emplace_back("Content-Encoding", "gzip");
  hostile_.Answer("profile", std::move(bomb));
  ASSERT_TRUE(StartService({"--http.max_response_bytes=16777216"}));
  StartHeartbeat();
  EXPECT_TRUE(IsError(CallStatus(Hostile(), "profile"), StatusCode::RESOURCE_EXHAUSTED, "UPSTREAM_RESPONSE_TOO_LARGE"));
  EXPECT_EQ(hostile_.Requests("profile"), 1) << "not retried";
  ExpectHeartbeatHealthy();
  int64_t peak_kb = PeakRssKb(service_->pid());
  EXPECT_GT(peak_kb, 0);
  EXPECT_LT(peak_kb, 200 * 1024) << "peak RSS of the service in KiB";
}

TEST_F(HardeningE2eTest, AResultOverTheGrpcMessageLimitIsRefusedWithAReason) {
  const std::string big(6'000'000, 'b');
  hostile_.Answer("profile", Answer(200, Json{{"result", big}}.dump()));
  const Json item = {{"ID", "1"}, {"X", big}};
  // GetAll probes with one `batch` asking for the first and the last page; the
  // last page only gives the highest ID, so it stays small.
  hostile_.Answer("batch", Answer(200, BatchEnvelope(Json::array({item}), Json::array({Json{{"ID", "1"}}}))));
  hostile_.Answer("crm.deal.list", Answer(200, Json{{"result", Json::array({item})}, {"total", 1}}.dump()));
  ASSERT_TRUE(StartService({}));
  StartHeartbeat();
  EXPECT_TRUE(IsError(CallStatus(Hostile(), "profile"), StatusCode::RESOURCE_EXHAUSTED, "RESULT_TOO_LARGE"));
  Export e = RunExport(ExportOf(Hostile(), "crm.deal.list", "", 0, v1::GetAllRequest::FORMAT_JSON));
  EXPECT_TRUE(IsError(e.status, StatusCode::RESOURCE_EXHAUSTED, "RESULT_TOO_LARGE"));
  ExpectHeartbeatHealthy();
}

TEST_F(HardeningE2eTest, AResultWithAHundredThousandKeysArrivesWhole) {
  std::string body = "{\"result\":{";
  for (int i = 0; i < 100'000; ++i) absl::StrAppend(&body, i ? "," : "", "\"k", i, "\":", i);
  body += "}}";
  hostile_.Answer("profile", Answer(200, body));
  ASSERT_TRUE(StartService({}));
  StartHeartbeat();
  v1::CallResponse response;
  grpc::Status s = CallStatus(Hostile(), "profile", "", absl::Seconds(5), &response);
  ASSERT_TRUE(s.ok()) << Describe(s);
  const auto& fields = response.result().struct_value().fields();
  EXPECT_EQ(fields.size(), 100'000u);
  auto last = fields.find("k99999");
  ASSERT_NE(last, fields.end());
  EXPECT_EQ(last->second.number_value(), 99999);
  ExpectHeartbeatHealthy();
}

TEST_F(HardeningE2eTest, TheInFlightCapIsTheOnlyBoundOnConnectionsToAPortal) {
  hostile_.On("profile", [](const HttpServerRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return Answer(200, R"({"result":{}})");
  });
  ASSERT_TRUE(
      StartService({"--limits.max_in_flight_per_portal=64", "--limits.burst=1000", "--limits.drain_per_second=1000"}));
  StartHeartbeat();
  std::vector<grpc::Status> results(64);
  std::vector<std::thread> callers;
  for (int i = 0; i < 64; ++i) {
    callers.emplace_back([&, i] { results[i] = CallStatus(Hostile(), "profile", "", absl::Seconds(10)); });
  }
  for (auto& t : callers) t.join();
  int failed = 0;
  for (const grpc::Status& s : results) {
    if (!s.ok() && failed++ == 0) ADD_FAILURE() << "first failure: " << Describe(s);
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(hostile_.PeakConcurrency(), 64);
  ExpectHeartbeatHealthy();
}

TEST_F(HardeningE2eTest, ACursorOnlyResumesTheExportItCameFrom) {
  ASSERT_TRUE(StartService({}));
  const std::string params = R"({"select": ["ID"]})";
  Export contacts = RunExport(ExportOf(Good(), "crm.contact.list", params, 60));
  ASSERT_TRUE(contacts.status.ok()) << Describe(contacts.status);
  ASSERT_EQ(contacts.items_json.size(), 60u);
  ASSERT_FALSE(contacts.cursor.empty());
  Export deals = RunExport(ExportOf(Good(), "crm.deal.list", params, 60));
  ASSERT_TRUE(deals.status.ok()) << Describe(deals.status);
  ASSERT_EQ(deals.items_json.size(), 60u);
  ASSERT_FALSE(deals.cursor.empty());

  auto resume = [&](const v1::PortalRef& ref, const std::string& method, const std::string& p,
                    const std::string& cursor) {
    v1::GetAllRequest request = ExportOf(ref, method, p);
    request.set_cursor(cursor);
    return RunExport(request);
  };
  auto refused = [](const Export& e, const std::string& mentions) {
    EXPECT_TRUE(IsError(e.status, StatusCode::INVALID_ARGUMENT, "INVALID_CURSOR"));
    if (!mentions.empty()) {
      EXPECT_TRUE(absl::StrContains(e.status.error_message(), mentions)) << e.status.error_message();
    }
    EXPECT_TRUE(e.items_json.empty());
  };

  {
    SCOPED_TRACE("a crm.contact.list cursor for crm.deal.list");
    refused(resume(Good(), "crm.deal.list", params, contacts.cursor), "crm.contact.list");
  }
  {
    SCOPED_TRACE("the same method with other params");
    refused(resume(Good(), "crm.deal.list", R"({"select": ["ID"], "filter": {">ID": 5}})", deals.cursor), "params");
  }
  {
    SCOPED_TRACE("one character changed");
    std::string damaged = deals.cursor;
    char& c = damaged[damaged.size() / 2];
    if (absl::ascii_isdigit(c))
      c = static_cast<char>('0' + (c - '0' + 1) % 10);
    else if (c == 'z' || c == 'Z')
      c = static_cast<char>(c - 25);
    else if (absl::ascii_isalpha(c))
      c = static_cast<char>(c + 1);
    else
      c = 'A';
    ASSERT_NE(damaged, deals.cursor);
    refused(resume(Good(), "crm.deal.list", params, damaged), "");
  }
  {
    SCOPED_TRACE("another portal");
    refused(resume(Hostile(), "crm.deal.list", params, deals.cursor), "portal");
    EXPECT_EQ(hostile_.TotalRequests(), 0);
  }

  Export rest = resume(Good(), "crm.deal.list", params, deals.cursor);
  ASSERT_TRUE(rest.status.ok()) << Describe(rest.status);
  std::vector<int64_t> first_ids, rest_ids;
  for (const std::string& item : deals.items_json)
    first_ids.push_back(std::stoll(Json::parse(item)["ID"].get<std::string>()));
  for (const std::string& item : rest.items_json)
    rest_ids.push_back(std::stoll(Json::parse(item)["ID"].get<std::string>()));
  EXPECT_EQ(first_ids.size() + rest_ids.size(), 300u);
  const int64_t last_delivered = *std::max_element(first_ids.begin(), first_ids.end());
  for (int64_t id : rest_ids) EXPECT_GT(id, last_delivered) << "the resumed export repeats an item";
  std::vector<int64_t> all = first_ids;
  all.insert(all.end(), rest_ids.begin(), rest_ids.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()) - all.begin(), 300);
  EXPECT_EQ(all.front(), 1);
  EXPECT_EQ(all.back(), 300);
}

TEST_F(HardeningE2eTest, ABatchAnswerThatIsNoBatchEnvelopeFailsAndSaysAWriteMayHaveRun) {
  const std::string not_an_envelope = R"({"result":{"ID":"1"}})";
  hostile_.Answer("batch", Answer(200, not_an_envelope));
  ASSERT_TRUE(StartService({}));
  StartHeartbeat();

  v1::BatchResponse read_response;
  grpc::Status read = BatchStatus(Hostile(), {{"d", "crm.deal.get", R"({"id": 1})"}}, &read_response);
  EXPECT_TRUE(IsError(read, StatusCode::UNAVAILABLE, "UPSTREAM_BAD_RESPONSE"))
      << "not OK with not_executed: " << read_response.ShortDebugString();

  auto ambiguous_write = [&] {
    const int before = hostile_.Requests("batch");
    grpc::Status write = BatchStatus(Hostile(), {{"a", "crm.deal.add", R"({"fields": {"TITLE": "x"}})"}});
    EXPECT_EQ(write.error_code(), StatusCode::UNAVAILABLE) << Describe(write);
    auto info = client::ErrorInfoOf(write);
    ASSERT_TRUE(info.has_value()) << Describe(write);
    EXPECT_EQ(info->metadata["may_have_executed"], "true") << Describe(write);
    EXPECT_EQ(hostile_.Requests("batch"), before + 1) << "a write that may have run is not repeated";
  };
  {
    SCOPED_TRACE("JSON that is no batch envelope");
    ambiguous_write();
  }
  {
    SCOPED_TRACE("a body that is no JSON");
    hostile_.Answer("batch", Answer(200, "<html>oops</html>", "text/html"));
    ambiguous_write();
  }

  hostile_.Answer("batch", Answer(200, not_an_envelope));
  Export e = RunExport(ExportOf(Hostile(), "crm.deal.list"));
  EXPECT_TRUE(IsError(e.status, StatusCode::UNAVAILABLE, "UPSTREAM_BAD_RESPONSE"));
  auto info = client::ErrorInfoOf(e.status);
  EXPECT_TRUE(info && info->reason != "UNSPECIFIED") << Describe(e.status);
  ExpectHeartbeatHealthy();
}

TEST_F(HardeningE2eTest, DeadlinesAreKeptAndAnAmbiguousWriteSaysSo) {
  hostile_.On("crm.deal.add", [](const HttpServerRequest&) {
    HttpServerResponse r = Answer(200, R"({"result": 1})");
    r.delay = absl::Seconds(3);  // interruptible by Stop()
    return r;
  });
  ASSERT_TRUE(StartService({}));

  grpc::Status expired = CallStatus(Good(), "crm.deal.add", R"({"fields": {"TITLE": "late"}})", absl::Milliseconds(1));
  EXPECT_EQ(expired.error_code(), StatusCode::DEADLINE_EXCEEDED) << Describe(expired);
  // Had the gateway sent it anyway, it would have arrived by now.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(emulator_->Stats().portals[good_.id].requests_by_method["crm.deal.add"], 0);

  // The caller's deadline passes while the write is out: DEADLINE_EXCEEDED, sent once, never repeated.
  absl::Time start = absl::Now();
  grpc::Status slow =
      CallStatus(Hostile(), "crm.deal.add", R"({"fields": {"TITLE": "slow"}})", absl::Milliseconds(500));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(slow.error_code(), StatusCode::DEADLINE_EXCEEDED) << Describe(slow);
  // The gateway ends the attempt 20 ms before the caller's deadline so that its
  // own answer (with may_have_executed) usually arrives first; on a loaded
  // machine the caller's timer may still win, so that part is checked below
  // with an upstream timeout well inside the caller's deadline.
  if (auto info = client::ErrorInfoOf(slow)) {
    EXPECT_EQ(info->metadata["may_have_executed"], "true");
  }
  EXPECT_EQ(hostile_.Requests("crm.deal.add"), 1);
}

TEST_F(HardeningE2eTest, AWriteWhoseUpstreamAttemptTimedOutSaysItMayHaveRun) {
  hostile_.On("crm.deal.add", [](const HttpServerRequest&) {
    HttpServerResponse r = Answer(200, R"({"result": 1})");
    r.delay = absl::Seconds(3);  // interruptible by Stop()
    return r;
  });
  ASSERT_TRUE(StartService({"--http.request_timeout=300ms"}));
  grpc::Status slow = CallStatus(Hostile(), "crm.deal.add", R"({"fields": {"TITLE": "slow"}})", absl::Seconds(10));
  EXPECT_EQ(slow.error_code(), StatusCode::DEADLINE_EXCEEDED) << Describe(slow);
  auto info = client::ErrorInfoOf(slow);
  ASSERT_TRUE(info.has_value()) << Describe(slow);
  EXPECT_EQ(info->reason, "UPSTREAM_TIMEOUT");
  EXPECT_EQ(info->metadata["may_have_executed"], "true");
  EXPECT_EQ(hostile_.Requests("crm.deal.add"), 1) << "a write that may have run is not repeated";
}

TEST_F(HardeningE2eTest, AFailedRefreshFailsEveryWaitingCallAtOnce) {
  ASSERT_TRUE(StartService(
      {"--oauth.server=" + emulator_->oauth_token_url(), "--oauth.failure_cooldown=5s", "--limits.detect_plan=false"}));
  ASSERT_NO_FATAL_FAILURE(InstallOAuthPortal(emulator_->oauth_server_endpoint()));
  emulator_->ExpireAccessTokens(oauth_portal_.id);
  const int64_t oauth_before = emulator_->Stats().oauth_requests;
  emulator_->InjectFault(Emulator::kOAuthServer, Fault::DropBeforeExecute().Times(1000));
  StartHeartbeat();

  std::vector<grpc::Status> results(50);
  std::vector<std::thread> callers;
  absl::Time start = absl::Now();
  for (int i = 0; i < 50; ++i) {
    callers.emplace_back(
        [&, i] { results[i] = CallStatus(Member(inst_.member_id), "profile", "", absl::Seconds(20)); });
  }
  for (auto& t : callers) t.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  int wrong = 0;
  for (const grpc::Status& s : results) {
    auto r = IsError(s, StatusCode::UNAVAILABLE, "OAUTH_UNREACHABLE");
    if (!r && wrong++ == 0) ADD_FAILURE() << "first unexpected outcome: " << r.message();
  }
  EXPECT_EQ(wrong, 0);
  auto stats = emulator_->Stats();
  EXPECT_EQ(stats.oauth_requests - oauth_before, 1) << "one refresh for all waiting callers";
  EXPECT_LE(stats.portals[oauth_portal_.id].requests_by_method["profile"], 50);

  EXPECT_TRUE(IsError(CallStatus(Member(inst_.member_id), "profile"), StatusCode::UNAVAILABLE, "OAUTH_UNREACHABLE"));
  EXPECT_EQ(emulator_->Stats().oauth_requests - oauth_before, 1) << "no new refresh during the cooldown";
  ExpectHeartbeatHealthy();
}

TEST_F(HardeningE2eTest, TheConfiguredOAuthServerWinsOverTheInstallPayload) {
  ASSERT_TRUE(StartService({"--oauth.server=" + emulator_->oauth_token_url(), "--limits.detect_plan=false"}));
  ASSERT_NO_FATAL_FAILURE(InstallOAuthPortal(absl::StrCat("http://127.0.0.1:", hostile_.port(), "/rest/")));
  emulator_->ExpireAccessTokens(oauth_portal_.id);
  grpc::Status s = CallStatus(Member(inst_.member_id), "profile");
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(emulator_->Stats().oauth_refresh_requests, 1);
  EXPECT_EQ(hostile_.TotalRequests(), 0) << "the client secret went to the server the payload named";
}

TEST_F(HardeningE2eTest, ALoopbackAddressInDisguiseIsRefusedBeforeConnecting) {
  // Without allow_loopback the fixture's webhooks would not load: own flags.
  ASSERT_TRUE(StartServiceWith({"--security.allow_http=true", "--security.allowed_hosts=2130706433",
                                "--store.url=sqlite3://db=" + db_, "--retry.base_delay=10ms", "--shutdown_grace=10s"}));
  const std::string host = absl::StrCat("2130706433:", good_.port);  // 127.0.0.1 in decimal

  absl::Time start = absl::Now();
  grpc::Status call = CallStatus(WebhookRef(absl::StrCat("http://", host, "/rest/1/goodcode/")), "profile");
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(IsError(call, StatusCode::INVALID_ARGUMENT, "HOST_NOT_ALLOWED"));

  grpc::Status install = InstallStatus({{"AUTH_ID", "at"},
                                        {"REFRESH_ID", "rt"},
                                        {"AUTH_EXPIRES", "3600"},
                                        {"member_id", "0123456789abcdef0123456789abcdef"},
                                        {"DOMAIN", host},
                                        {"SERVER_ENDPOINT", emulator_->oauth_server_endpoint()},
                                        {"APPLICATION_TOKEN", "apptoken"},
                                        {"PROTOCOL", "0"}});
  EXPECT_TRUE(IsError(install, StatusCode::INVALID_ARGUMENT, "HOST_NOT_ALLOWED"));
  EXPECT_EQ(emulator_->Stats().portals[good_.id].http_requests, 0);
}

TEST_F(HardeningE2eTest, MalformedWebhookUrlsAreRefusedAtOnce) {
  ASSERT_TRUE(StartService({}));
  for (const std::string& url : {absl::StrCat("http://127.0.0.1:", good_.port, "/rest/1/good code/"),
                                 absl::StrCat("http://::1:", good_.port, "/rest/1/goodcode/")}) {
    SCOPED_TRACE(url);
    absl::Time start = absl::Now();
    EXPECT_TRUE(IsError(CallStatus(WebhookRef(url), "profile"), StatusCode::INVALID_ARGUMENT, "INVALID_WEBHOOK_URL"));
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  }
  EXPECT_EQ(emulator_->Stats().portals[good_.id].http_requests, 0);
}

TEST_F(HardeningE2eTest, RequestsTheServerCannotParseAreInvalidArguments) {
  ASSERT_TRUE(StartService({}));
  // CallRequest.portal = {name: "good"}, written by hand.
  const std::string portal_good = {'\x0a', '\x06', '\x1a', '\x04', 'g', 'o', 'o', 'd'};
  v1::CallRequest nested;
  *nested.mutable_portal() = Good();
  nested.set_method("profile");
  google::protobuf::Struct* level = nested.mutable_params();
  for (int i = 0; i < 200; ++i) level = (*level->mutable_fields())["a"].mutable_struct_value();
  std::string nested_bytes;
  ASSERT_TRUE(nested.SerializeToString(&nested_bytes));

  struct Case {
    std::string name, bytes, mentions;  // mentions: lower case
  };
  const std::vector<Case> cases = {
      {"garbage", std::string(4, '\xff'), ""},
      // field 2 (method), length 2, bytes ff fe: not UTF-8
      {"method is not UTF-8", portal_good + std::string{'\x12', '\x02', '\xff', '\xfe'}, "utf-8"},
      {"params nested 200 levels", nested_bytes, "nest"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::Status s = RawCall(c.bytes);
    EXPECT_TRUE(IsError(s, StatusCode::INVALID_ARGUMENT, "INVALID_REQUEST"));
    EXPECT_FALSE(s.error_message().empty());
    if (!c.mentions.empty()) {
      EXPECT_TRUE(absl::StrContains(Lower(s.error_message()), c.mentions)) << s.error_message();
    }
  }
}

TEST_F(HardeningE2eTest, InvalidUtf8FromAPortalIsReplacedNotPassedOn) {
  hostile_.Answer("crm.deal.get", Answer(403,
                                         "{\"error\":\"ACCESS_DENIED\",\"error_description\":\"bad "
                                         "\xff\xfe"
                                         " bytes\"}"));
  ASSERT_TRUE(StartService({}));
  StartHeartbeat();

  grpc::Status denied = CallStatus(Hostile(), "crm.deal.get", R"({"id": 1})");
  EXPECT_EQ(denied.error_code(), StatusCode::PERMISSION_DENIED) << Describe(denied);
  auto info = client::ErrorInfoOf(denied);
  ASSERT_TRUE(info.has_value()) << "ErrorInfo must parse (its strings must be UTF-8): " << Describe(denied);
  EXPECT_EQ(info->reason, "ACCESS_DENIED");
  EXPECT_TRUE(IsValidUtf8(info->metadata["error_description"]));
  EXPECT_TRUE(IsValidUtf8(denied.error_message())) << denied.error_message();
  EXPECT_TRUE(absl::StrContains(denied.error_message(), kReplacement)) << denied.error_message();

  hostile_.Answer("crm.deal.get", Answer(200,
                                         "{\"result\":{\"TITLE\":\"x"
                                         "\xff"
                                         "y\"}}"));
  v1::CallResponse response;
  grpc::Status ok = CallStatus(Hostile(), "crm.deal.get", R"({"id": 1})", absl::Seconds(20), &response);
  ASSERT_TRUE(ok.ok()) << Describe(ok);
  const auto& fields = response.result().struct_value().fields();
  auto title = fields.find("TITLE");
  ASSERT_NE(title, fields.end()) << response.ShortDebugString();
  EXPECT_TRUE(IsValidUtf8(title->second.string_value()));
  EXPECT_TRUE(absl::StrContains(title->second.string_value(), kReplacement)) << title->second.string_value();
  ExpectHeartbeatHealthy();
}

TEST_F(HardeningE2eTest, ItemsThatAreNotObjectsFailAsStructsAndStreamAsJson) {
  hostile_.Answer("batch", Answer(200, BatchEnvelope(Json::array({"a", "b"}), Json::array({"b"}))));
  // Should the export fall back to plain pages, they hold the same strings.
  hostile_.Answer("crm.deal.list", Answer(200, R"({"result":["a","b"],"total":2})"));
  ASSERT_TRUE(StartService({}));
  StartHeartbeat();

  Export structs = RunExport(ExportOf(Hostile(), "crm.deal.list", "", 0, v1::GetAllRequest::FORMAT_STRUCT));
  EXPECT_TRUE(IsError(structs.status, StatusCode::FAILED_PRECONDITION, "ITEMS_NOT_OBJECTS"));

  Export json = RunExport(ExportOf(Hostile(), "crm.deal.list", "", 0, v1::GetAllRequest::FORMAT_JSON));
  ASSERT_TRUE(json.status.ok()) << Describe(json.status);
  ASSERT_FALSE(json.items_json.empty());
  EXPECT_EQ(json.items_json[0], "\"a\"");
  for (const std::string& item : json.items_json) {
    EXPECT_TRUE(Json::parse(item, nullptr, /*allow_exceptions=*/false).is_string()) << item;
  }
  ExpectHeartbeatHealthy();
}

TEST_F(HardeningE2eTest, ARedirectThatIsNoRenameIsRefusedOnce) {
  HttpServerResponse moved = Answer(303, R"({"error":"moved"})");
  moved.headers.emplace_back("Location", "http://example.com/");
  hostile_.Answer("profile", std::move(moved));
  ASSERT_TRUE(StartService({}));
  EXPECT_TRUE(IsError(CallStatus(Hostile(), "profile"), StatusCode::FAILED_PRECONDITION, "UNEXPECTED_REDIRECT"));
  EXPECT_EQ(hostile_.Requests("profile"), 1);
}

TEST_F(HardeningE2eTest, GetAllRefusesOutOfRangeOptions) {
  ASSERT_TRUE(StartService({}));
  v1::GetAllRequest negative = ExportOf(Good(), "crm.deal.list");
  negative.set_max_parallel_ranges(-1);
  EXPECT_TRUE(IsError(RunExport(negative).status, StatusCode::INVALID_ARGUMENT, "INVALID_EXPORT"));
  v1::GetAllRequest format = ExportOf(Good(), "crm.deal.list");
  format.set_format(static_cast<v1::GetAllRequest::Format>(7));
  EXPECT_TRUE(IsError(RunExport(format).status, StatusCode::INVALID_ARGUMENT, "INVALID_EXPORT"));
}

}  // namespace
}  // namespace b24
