#include "tests/testing/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "gtest/gtest.h"
#include "tests/unit/testing/curl_client.h"

namespace b24::testing {
namespace {

// Sends raw bytes on a fresh connection and reads until the server closes it
// (or 5 s pass).
std::string RawExchange(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "connect";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  return fd;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<HttpServer>([this](const HttpServerRequest& req, HttpServerResponse* resp) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_ = req;
      }
      ++calls_;
      if (req.path == "/drop") resp->drop_connection = true;
      if (req.path == "/slow") resp->delay = absl::Milliseconds(30);
      if (req.path == "/forever") resp->delay = absl::Hours(1);
      if (req.path == "/throw") throw std::runtime_error("boom");
      resp->headers.emplace_back("X-Echo", req.method);
      resp->body = req.body.empty() ? "ok" : req.body;
    });
    ASSERT_TRUE(server_->Start(0).ok());
    ASSERT_GT(server_->port(), 0);
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  HttpServerRequest Last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

  std::unique_ptr<HttpServer> server_;
  std::string base_;
  std::mutex mu_;
  HttpServerRequest last_;
  std::atomic<int> calls_{0};
};

TEST_F(HttpServerTest, ParsesRequestLinePathQueryAndHeaders) {
  CurlClient curl;
  CurlResponse r = curl.Get(base_ + "/rest/1/a%20b/crm.deal.list.json?x=1&y=%5B", {"X-Mixed-Case: v"});
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(r.headers["x-echo"], "GET");
  HttpServerRequest req = Last();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.raw_path, "/rest/1/a%20b/crm.deal.list.json");
  EXPECT_EQ(req.path, "/rest/1/a b/crm.deal.list.json");
  EXPECT_EQ(req.query, "x=1&y=%5B");
  EXPECT_EQ(req.target, "/rest/1/a%20b/crm.deal.list.json?x=1&y=%5B");
  EXPECT_EQ(req.Header("x-mixed-case"), "v");
}

TEST_F(HttpServerTest, KeepsConnectionAliveAndReadsBodies) {
  CurlClient curl;
  std::string big(200000, 'z');  // Large enough for libcurl to send Expect: 100-continue.
  CurlResponse first = curl.Post(base_ + "/echo", big, "text/plain");
  ASSERT_EQ(first.code, CURLE_OK);
  EXPECT_EQ(first.body.size(), big.size());
  CurlResponse second = curl.Post(base_ + "/echo", "a=1", "application/x-www-form-urlencoded");
  ASSERT_EQ(second.code, CURLE_OK);
  EXPECT_EQ(second.body, "a=1");
  EXPECT_TRUE(second.reused_connection);
}

TEST_F(HttpServerTest, DecodesChunkedBodies) {
  std::string out = RawExchange(server_->port(),
                                "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n");
  EXPECT_NE(out.find("200 OK"), std::string::npos) << out;
  EXPECT_EQ(Last().body, "hello, world");
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  EXPECT_NE(RawExchange(server_->port(), "garbage\r\n\r\n").find("400 Bad Request"), std::string::npos);
  EXPECT_NE(RawExchange(server_->port(), "GET /x HTTP/1.1\r\nContent-Length: zz\r\n\r\n").find("400 Bad Request"),
            std::string::npos);
  EXPECT_NE(RawExchange(server_->port(), "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .find("400 Bad Request"),
            std::string::npos);
  CurlClient curl;  // Still serving.
  EXPECT_EQ(curl.Get(base_ + "/after").status, 200);
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  CurlClient curl;
  EXPECT_EQ(curl.Get(base_ + "/throw").status, 500);
}

TEST_F(HttpServerTest, DropAndDelaySwitches) {
  CurlClient curl;
  EXPECT_EQ(curl.Get(base_ + "/drop").code, CURLE_GOT_NOTHING);
  CurlResponse slow = curl.Get(base_ + "/slow");
  EXPECT_EQ(slow.status, 200);
  EXPECT_GE(slow.elapsed, absl::Milliseconds(30));
}

TEST_F(HttpServerTest, StopDoesNotWaitForIdleClientsOrDelays) {
  int idle = Connect(server_->port());  // Connected, never sends a byte.
  int keep = Connect(server_->port());
  std::string req = "GET /k HTTP/1.1\r\nHost: x\r\n\r\n";
  ::send(keep, req.data(), req.size(), MSG_NOSIGNAL);
  std::thread waiting([this] {
    CurlClient curl;
    curl.Get(base_ + "/forever");  // Answer delayed by an hour.
  });
  while (calls_ < 2) absl::SleepFor(absl::Milliseconds(1));
  absl::Time start = absl::Now();
  server_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  waiting.join();
  ::close(idle);
  ::close(keep);
}

}  // namespace
}  // namespace b24::testing
