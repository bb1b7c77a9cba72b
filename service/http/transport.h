// Transport: sends one HTTP request and reports its response, asynchronously.
//
// This header knows no curl; service/http/curl implements it with curl_multi.
// The transport sends exactly what it is given: it follows no redirects,
// retries nothing and checks no allowlist (the rest client does all three).
//
// Completion: the callback runs exactly once, on a transport thread, and must
// not block. Errors (absl::Status) are only for requests that produced no
// HTTP response at all:
//   UNAVAILABLE        connection failed / reset / TLS failure
//   DEADLINE_EXCEEDED  the request's timeout passed
//   CANCELLED          the transport is shutting down
// Each error tells with SurelyNotSent() whether the request can be known not to
// have reached the server (DNS or connect failure): only then may a request
// that changes data be retried.
//
// Thread-safety: Send() may be called from any thread concurrently.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace b24::http {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The request is abandoned this long after the transport starts it (the
  // caller's remaining deadline cut to the configured request timeout). A
  // duration, not an instant: callers measure time on their own Clock.
  absl::Duration timeout = absl::Seconds(70);
  // False for requests that change data. Such a request is never sent on a
  // reused keep-alive connection: libcurl silently re-sends a request whose
  // reused connection closed before any answer, and a write must not run twice.
  bool idempotent = true;
};

struct HttpResponse {
  int status = 0;
  // Header names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Value of the first header named `name` (lower case), or "".
  std::string Header(const std::string& name) const;
};

using ResponseCallback = std::function<void(absl::StatusOr<HttpResponse>)>;

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(HttpRequest request, ResponseCallback done) = 0;
};

// Marks a transport error as "the request never reached the server".
absl::Status MarkNotSent(absl::Status status);
// True when `status` came from a request that surely never reached the server.
bool SurelyNotSent(const absl::Status& status);

}  // namespace b24::http
