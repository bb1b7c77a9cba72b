// The C++ client against a scripted Bitrix24Service over real gRPC on
// 127.0.0.1: error classification, which calls are retried, metadata and
// deadlines, GetAllStream's cursor, resume after UNAVAILABLE, and Cancel().
#include "client-sdk/cpp/client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace b24::client {
namespace {

namespace v1 = bitrix24::v1;

grpc::Status Rich(grpc::StatusCode code, const std::string& message, const std::string& reason,
                  const std::string& domain, const std::map<std::string, std::string>& metadata = {}) {
  google::rpc::ErrorInfo info;
  info.set_reason(reason);
  info.set_domain(domain);
  for (const auto& [k, v] : metadata) (*info.mutable_metadata())[k] = v;
  google::rpc::Status status;
  status.set_code(static_cast<int>(code));
  status.set_message(message);
  status.add_details()->PackFrom(info);
  return grpc::Status(code, message, status.SerializeAsString());
}

TEST(ClassifyTest, Table) {
  using K = Error::Kind;
  struct Row {
    grpc::Status status;
    K kind;
    std::string code;
    bool may_have_executed;
    std::string description;
  };
  const std::vector<Row> rows = {
      {Rich(grpc::StatusCode::PERMISSION_DENIED, "Bitrix24 ACCESS_DENIED from x: Access denied", "ACCESS_DENIED",
            "bitrix24", {{"error_description", "Access denied"}}),
       K::kError, "ACCESS_DENIED", false, "Access denied"},
      // The portal sent an empty code: "" for the caller, never "UNSPECIFIED".
      {Rich(grpc::StatusCode::NOT_FOUND, "Bitrix24 error from crm.deal.get: Not found", "UNSPECIFIED", "bitrix24",
            {{"error_description", "Not found"}}),
       K::kError, "", false, "Not found"},
      // ... but a gateway reason of that name stays.
      {Rich(grpc::StatusCode::INTERNAL, "m", "UNSPECIFIED", "bitrix24service"), K::kError, "UNSPECIFIED", false, "m"},
      {Rich(grpc::StatusCode::RESOURCE_EXHAUSTED, "m", "QUERY_LIMIT_EXCEEDED", "bitrix24"), K::kLimit,
       "QUERY_LIMIT_EXCEEDED", false, "m"},
      {Rich(grpc::StatusCode::RESOURCE_EXHAUSTED, "m", "OPERATION_TIME_LIMIT", "bitrix24service"), K::kLimit,
       "OPERATION_TIME_LIMIT", false, "m"},
      {Rich(grpc::StatusCode::DEADLINE_EXCEEDED, "m", "DEADLINE_BEFORE_SEND", "bitrix24service"), K::kLimit,
       "DEADLINE_BEFORE_SEND", false, "m"},
      {grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"), K::kLimit, "", false,
       "Deadline Exceeded"},
      {Rich(grpc::StatusCode::DEADLINE_EXCEEDED, "m", "UPSTREAM_TIMEOUT", "bitrix24service",
            {{"may_have_executed", "true"}}),
       K::kLimit, "UPSTREAM_TIMEOUT", true, "m"},
      {Rich(grpc::StatusCode::UNAVAILABLE, "m", "UPSTREAM_UNREACHABLE", "bitrix24service",
            {{"may_have_executed", "true"}}),
       K::kError, "UPSTREAM_UNREACHABLE", true, "m"},
      {Rich(grpc::StatusCode::FAILED_PRECONDITION, "portal x must be reinstalled", "invalid_grant", "bitrix24",
            {{"needs_reinstall", "true"}, {"error_description", "Invalid refresh token"}}),
       K::kNeedsReinstall, "invalid_grant", false, "Invalid refresh token"},
      {grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"), K::kError, "", false, "connection refused"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.status.error_message() + " / " + r.code);
    for (const Error& e : {Classify(r.status), Classify(FromGrpc(r.status))}) {
      EXPECT_EQ(e.kind, r.kind);
      EXPECT_EQ(e.code, r.code);
      EXPECT_EQ(e.may_have_executed, r.may_have_executed);
      EXPECT_EQ(e.description, r.description);
      EXPECT_EQ(e.grpc_code, r.status.error_code());
    }
  }
  // FromGrpc puts the code in front of a message that lacks it.
  absl::Status s = FromGrpc(
      Rich(grpc::StatusCode::FAILED_PRECONDITION, "portal x must be reinstalled", "invalid_grant", "bitrix24"));
  EXPECT_EQ(s.message(), "invalid_grant: portal x must be reinstalled");
}

TEST(IsReadMethodTest, Table) {
  for (const char* m : {"crm.deal.get", "crm.deal.list", "CRM.DEAL.LIST", "crm.item.fields", "tasks.task.list",
                        "profile", "app.info", "user.current", "crm.duplicate.findbycomm.count", "user.search",
                        "crm.stagehistory.list", "tasks.task.history.list", "crm.timeline.logmessage.tail"}) {
    EXPECT_TRUE(IsReadMethod(m)) << m;
  }
  for (const char* m : {"crm.deal.add", "crm.deal.update", "crm.deal.delete", "batch", "crm.deal.getandlock",
                        "im.message.add", "tasks.task.start", "user.get.all", "disk.file.uploadversion", "", "get"}) {
    EXPECT_FALSE(IsReadMethod(m)) << m;
  }
}

// A scripted service: each RPC pops its next answer.
class ScriptedService final : public v1::Bitrix24Service::Service {
 public:
  std::mutex mu;
  std::vector<grpc::Status> call_answers;  // popped front; OK when empty
  int calls = 0;
  std::multimap<std::string, std::string> last_metadata;
  std::chrono::system_clock::time_point last_deadline;
  std::vector<v1::GetAllRequest> getall_requests;
  // GetAll: attempt n sends stream_script[n] then ends with stream_end[n].
  std::vector<std::vector<v1::GetAllResponse>> stream_script;
  std::vector<grpc::Status> stream_end;
  std::atomic<bool> block_stream{false};

  grpc::Status Call(grpc::ServerContext* ctx, const v1::CallRequest* req, v1::CallResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu);
    ++calls;
    last_metadata.clear();
    for (const auto& [k, v] : ctx->client_metadata()) {
      last_metadata.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
    last_deadline = ctx->deadline();
    if (!call_answers.empty()) {
      grpc::Status s = call_answers.front();
      call_answers.erase(call_answers.begin());
      if (!s.ok()) return s;
    }
    resp->mutable_result()->set_string_value(req->method());
    resp->set_total(7);
    return grpc::Status::OK;
  }

  grpc::Status Batch(grpc::ServerContext*, const v1::BatchRequest* req, v1::BatchResponse* resp) override {
    for (const auto& c : req->commands()) {
      auto* r = resp->add_results();
      r->set_key(c.key());
      r->mutable_result()->set_string_value(c.method());
    }
    resp->set_http_requests(1);
    return grpc::Status::OK;
  }

  grpc::Status GetAll(grpc::ServerContext* ctx, const v1::GetAllRequest* req,
                      grpc::ServerWriter<v1::GetAllResponse>* writer) override {
    size_t n;
    {
      std::lock_guard<std::mutex> lock(mu);
      n = getall_requests.size();
      getall_requests.push_back(*req);
    }
    if (n < stream_script.size()) {
      for (const auto& m : stream_script[n]) writer->Write(m);
    }
    while (block_stream && !ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    return n < stream_end.size() ? stream_end[n] : grpc::Status::OK;
  }
};

v1::GetAllResponse Message(std::vector<std::string> items, std::string cursor, int64_t requests) {
  v1::GetAllResponse m;
  for (auto& i : items) m.add_items_json(i);
  m.set_cursor(cursor);
  m.set_http_requests(requests);
  return m;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  Client MakeClient(ClientOptions options = {}) {
    options.initial_backoff = absl::Milliseconds(1);
    return Client::Insecure("127.0.0.1:" + std::to_string(port_), options);
  }

  int port_ = 0;
  ScriptedService service_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ClientTest, ReadsAreRetriedOnUnavailableWritesAreNot) {
  Client client = MakeClient();
  auto unavailable = grpc::Status(grpc::StatusCode::UNAVAILABLE, "try again");
  service_.call_answers = {unavailable, unavailable};
  auto out = client.Call(ParsePortal("sandbox"), "crm.deal.get", R"({"id": 1})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(service_.calls, 3);
  EXPECT_NE(out->find(R"("total":7)"), std::string::npos) << *out;  // int64 printed as a number

  service_.calls = 0;
  service_.call_answers = {unavailable};
  auto write = client.Call(ParsePortal("sandbox"), "crm.deal.add", R"({"fields": {}})");
  EXPECT_EQ(write.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.calls, 1);

  // A read the gateway says may have executed (it cannot know it was a read) is not repeated either.
  service_.calls = 0;
  service_.call_answers = {Rich(grpc::StatusCode::UNAVAILABLE, "m", "UPSTREAM_UNREACHABLE", "bitrix24service",
                                {{"may_have_executed", "true"}})};
  EXPECT_FALSE(client.Call(ParsePortal("sandbox"), "crm.deal.get", "").ok());
  EXPECT_EQ(service_.calls, 1);

  // Other codes are never retried; max_attempts bounds the rest.
  service_.calls = 0;
  service_.call_answers = {grpc::Status(grpc::StatusCode::INTERNAL, "no")};
  EXPECT_FALSE(client.Call(ParsePortal("sandbox"), "crm.deal.get", "").ok());
  EXPECT_EQ(service_.calls, 1);
  service_.calls = 0;
  service_.call_answers = {unavailable, unavailable, unavailable, unavailable};
  EXPECT_FALSE(client.Call(ParsePortal("sandbox"), "crm.deal.get", "").ok());
  EXPECT_EQ(service_.calls, 3);
}

TEST_F(ClientTest, MetadataAndDeadlinesReachTheServer) {
  ClientOptions options;
  options.metadata = {{"authorization", "Bearer abc"}};
  options.timeout = absl::Seconds(30);
  Client client = MakeClient(options);
  CallOptions call;
  call.metadata = {{"x-request-id", "r-1"}};
  call.timeout = absl::Seconds(5);
  auto before = std::chrono::system_clock::now();
  ASSERT_TRUE(client.Call(ParsePortal("sandbox"), "profile", "", call).ok());
  EXPECT_EQ(service_.last_metadata.find("authorization")->second, "Bearer abc");
  EXPECT_EQ(service_.last_metadata.find("x-request-id")->second, "r-1");
  EXPECT_LT(service_.last_deadline, before + std::chrono::seconds(6));
  EXPECT_GT(service_.last_deadline, before + std::chrono::seconds(4));
  ASSERT_TRUE(client.Call(ParsePortal("sandbox"), "profile", "").ok());
  EXPECT_GT(service_.last_deadline, before + std::chrono::seconds(25));  // the client's default
}

TEST_F(ClientTest, BatchObjectFormKeepsTheOrderOfItsKeys) {
  Client client = MakeClient();
  auto out = client.Batch(ParsePortal("sandbox"),
                          R"({"z": {"method": "crm.deal.get", "params": {"id": 1}},
                              "a": {"method": "crm.deal.list"}, "m": {"method": "profile"}})",
                          false);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_LT(out->find("\"z\""), out->find("\"a\""));
  EXPECT_LT(out->find("\"a\""), out->find("\"m\""));
  EXPECT_FALSE(client.Batch(ParsePortal("sandbox"), R"([{"method": "x"}])", false).ok());      // no key
  EXPECT_FALSE(client.Batch(ParsePortal("sandbox"), R"({"a": {"params": {}}})", false).ok());  // no method
  EXPECT_FALSE(client.Batch(ParsePortal("sandbox"), "[1,", false).ok());
}

TEST_F(ClientTest, GetAllResumesFromTheCursorAfterUnavailable) {
  service_.stream_script = {
      {Message({"1", "2", "3"}, "c1", 2), Message({"4", "5"}, "", 3)},
      {Message({"4", "5", "6"}, "c2", 1)},
  };
  service_.stream_end = {grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway restarting"), grpc::Status::OK};
  Client client = MakeClient();
  GetAllOptions options;
  options.limit = 100;
  GetAllStream stream = client.GetAll(ParsePortal("sandbox"), "crm.deal.list", R"({"select": ["ID"]})", options);
  std::vector<std::string> items;
  std::vector<std::string> cursors;
  for (const std::string& item : stream) {
    items.push_back(item);
    cursors.push_back(stream.cursor());
  }
  ASSERT_TRUE(stream.status().ok()) << stream.status();
  // 4 and 5 came again (at least once), nothing was lost.
  EXPECT_EQ(items, (std::vector<std::string>{"1", "2", "3", "4", "5", "4", "5", "6"}));
  // The cursor moves past a message only once its last item was passed.
  EXPECT_EQ(cursors, (std::vector<std::string>{"", "", "", "c1", "c1", "c1", "c1", "c1"}));
  EXPECT_EQ(stream.cursor(), "c2");
  EXPECT_EQ(stream.attempts(), 2);
  EXPECT_EQ(stream.http_requests(), 4);  // 3 of the first attempt + 1
  ASSERT_EQ(service_.getall_requests.size(), 2u);
  EXPECT_EQ(service_.getall_requests[0].cursor(), "");
  EXPECT_EQ(service_.getall_requests[1].cursor(), "c1");
  EXPECT_EQ(service_.getall_requests[1].limit(), 97);  // 3 items were behind the cursor
  EXPECT_EQ(service_.getall_requests[1].format(), v1::GetAllRequest::FORMAT_JSON);
}

TEST_F(ClientTest, GetAllDoesNotRetryOtherErrorsAndResumesFromAGivenCursor) {
  service_.stream_script = {{Message({"7"}, "c7", 1)}};
  service_.stream_end = {grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad cursor")};
  Client client = MakeClient();
  GetAllOptions options;
  options.cursor = "c6";
  GetAllStream stream = client.GetAll(ParsePortal("sandbox"), "crm.deal.list", "", options);
  std::string item;
  ASSERT_TRUE(stream.Next(&item));
  EXPECT_EQ(item, "7");
  EXPECT_EQ(stream.cursor(), "c7");  // Next() counts the item it returns
  EXPECT_FALSE(stream.Next(&item));
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stream.attempts(), 1);
  EXPECT_EQ(service_.getall_requests[0].cursor(), "c6");
  // Params that are not JSON fail before anything is sent.
  GetAllStream bad = client.GetAll(ParsePortal("sandbox"), "crm.deal.list", "{bad");
  EXPECT_FALSE(bad.Next(&item));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.getall_requests.size(), 1u);
}

TEST_F(ClientTest, CancelFromAnotherThreadEndsTheStream) {
  service_.stream_script = {{Message({"1"}, "c1", 1)}};
  service_.block_stream = true;
  Client client = MakeClient();
  GetAllStream stream = client.GetAll(ParsePortal("sandbox"), "crm.deal.list");
  std::string item;
  ASSERT_TRUE(stream.Next(&item));
  std::thread canceller([&] { stream.Cancel(); });
  EXPECT_FALSE(stream.Next(&item));
  canceller.join();
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(stream.attempts(), 1);  // a cancelled stream is not resumed
}

}  // namespace
}  // namespace b24::client
