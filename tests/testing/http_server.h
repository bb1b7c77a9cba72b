// HttpServer: a small blocking HTTP/1.1 server on 127.0.0.1 for tests and the
// portal emulator.
//
// One thread accepts connections; each connection gets its own thread that reads
// requests (keep-alive, bodies by Content-Length or `Transfer-Encoding: chunked`,
// `Expect: 100-continue` answered), calls the handler and writes the answer. It is
// meant for at most a few hundred concurrent connections.
//
// The handler runs on connection threads, possibly many at once, so it must be
// thread-safe. It should not throw; an escaping exception is answered with 500.
// A malformed request is answered with 400 and the connection is closed.
// Two fault switches on the response let tests imitate a broken network:
// `drop_connection` closes the socket without writing anything, `delay` sleeps
// (for real, but interruptibly) before writing.
//
// Stop() (also run by the destructor) closes the listening socket and every live
// connection, cuts short any response delay and joins all threads. It never waits
// for a client; a handler that is running is allowed to return first.
//
// Thread-safety: Start() and Stop() must not race with each other; port() and
// Stop() may be called from any thread (not from inside the handler).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace b24::testing {

struct HttpServerRequest {
  std::string method;                          // "GET", "POST", ... as sent
  std::string target;                          // request-target as sent: "/rest/x.json?a=1"
  std::string raw_path;                        // target up to '?', not decoded
  std::string path;                            // raw_path percent-decoded ('+' stays '+')
  std::string query;                           // raw text after '?', "" when absent
  std::map<std::string, std::string> headers;  // lower-case names; repeats joined ", "
  std::string body;                            // de-chunked

  // Value of a header by lower-case name, "" when absent.
  std::string Header(absl::string_view lower_name) const;
};

struct HttpServerResponse {
  int status = 200;
  // Content-Length, Connection and Transfer-Encoding are written by the server.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool drop_connection = false;                 // close without answering
  absl::Duration delay = absl::ZeroDuration();  // real sleep before writing
};

using HttpHandler = std::function<void(const HttpServerRequest&, HttpServerResponse*)>;

class HttpServer {
 public:
  explicit HttpServer(HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds 127.0.0.1:`port` (0 = ephemeral) and starts serving. Returns
  // UNAVAILABLE when the socket cannot be bound, FAILED_PRECONDITION if started.
  absl::Status Start(int port = 0);
  // The bound port (0 before Start()).
  int port() const { return port_; }
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd, uint64_t id);
  // Reads more bytes into *buf; false on EOF, error or Stop().
  bool ReadMore(int fd, std::string* buf);
  // Sleeps for `d` unless Stop() comes first; false when stopped.
  bool SleepUnlessStopped(absl::Duration d);
  void ReapFinishedLocked(std::vector<std::thread>* to_join);

  HttpHandler handler_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};  // readable once Stop() begins
  int port_ = 0;
  std::thread acceptor_;

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool started_ = false;
  bool stopping_ = false;
  uint64_t next_id_ = 0;
  std::map<uint64_t, int> live_fds_;
  std::map<uint64_t, std::thread> threads_;
  std::vector<uint64_t> finished_;
};

}  // namespace b24::testing
