// CurlTransport: the Transport on libcurl's multi interface.
//
// One thread drives one curl_multi handle: connections are kept alive and
// reused per host, TLS peers are verified, each transfer gets a connect
// timeout and a total timeout derived from the request's deadline. This is
// the only place in the project that includes curl.
//
// Addresses are checked after DNS resolution: unless allow_loopback_addresses
// is set, a connection to 127.0.0.0/8 or ::1 is refused even when an allowed
// host name resolves there (DNS rebinding would otherwise bypass HostPolicy).
//
// Thread-safety: Send() from any thread. The destructor cancels transfers
// still running (their callbacks get CANCELLED) and joins the thread.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "service/http/transport.h"

namespace b24::http {

struct CurlOptions {
  absl::Duration connect_timeout = absl::Seconds(5);
  std::string ca_file;  // empty: the system store
  std::string user_agent = "bitrix24-service";
  long max_connections_per_host = 16;
  bool allow_loopback_addresses = false;
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
