// CurlTransport: the Transport on libcurl's multi interface.
//
// One thread drives one curl_multi handle: connections are kept alive and
// reused per host, TLS peers are verified, each transfer gets a connect
// timeout and a total timeout derived from the request's deadline. This is
// the only place in the project that includes curl.
//
// Addresses are checked after DNS resolution: unless allow_loopback_addresses
// is set, a connection to 127.0.0.0/8 or ::1 is refused even when an allowed
// host name resolves there (DNS rebinding, or a name like "2130706433" that
// HostPolicy cannot recognise): INVALID_ARGUMENT HOST_NOT_ALLOWED, not sent.
// Answers are counted as they arrive and aborted past max_response_bytes.
//
// Callbacks run on a pool of callback_threads, never on the curl thread.
// Thread-safety: Send() from any thread. Shutdown() (and the destructor)
// cancels transfers still running (their callbacks get CANCELLED), then runs
// the callbacks still queued and joins the threads; afterwards Send()
// completes at once, on the caller's thread.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "service/http/transport.h"

namespace b24::http {

struct CurlOptions {
  // TCP+TLS connect timeout (cut to the request's own timeout when shorter).
  absl::Duration connect_timeout = absl::Seconds(5);
  std::string ca_file;  // empty: the system store
  std::string user_agent = "bitrix24-service/0.1";
  // 0 = no cap. The executor's per-portal in-flight cap is the one that
  // counts: a lower cap here would make requests wait inside libcurl, where
  // the executor's fair queueing cannot see them.
  long max_connections_per_host = 0;
  bool allow_loopback_addresses = false;
  // Largest answer body accepted after decompression; a larger one is
  // aborted as it arrives (RESOURCE_EXHAUSTED, UPSTREAM_RESPONSE_TOO_LARGE).
  // 0 = no cap.
  size_t max_response_bytes = 64u << 20;
  // Threads that run completion callbacks (parsing, conversion), so that CPU
  // work for one answer never delays the transfers of other portals.
  int callback_threads = 4;
};

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(CurlOptions options);
  ~CurlTransport() override;
  void Send(HttpRequest request, ResponseCallback done) override;
  // Cancels every transfer (callbacks get CANCELLED) and refuses new ones.
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace b24::http
