// Prometheus metrics of the gateway (prometheus-cpp), served on their own HTTP
// port (metrics.listen, off by default).
//
// Two kinds of series:
//  - RPCs, counted by a gRPC server interceptor as they finish: by method and
//    gRPC code, with a latency histogram;
//  - everything else read at scrape time from the components' own counters
//    (Executor::Snapshot, OAuthManager, the GetAll stream totals), so the hot
//    path pays nothing for metrics it does not already count.
//
// Label cardinality is bounded: portals appear by host only (never a URL path,
// which would carry a webhook code), REST methods only when they match the
// method-name grammar (else "other"), and at most metrics.max_portals portals
// get series of their own: the first ones seen keep them for the life of the
// process, later ones are summed under portal="other".
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace b24 {
class Logger;
namespace exec {
class Executor;
}
namespace auth {
class OAuthManager;
}
namespace grpcapi {
struct StreamCounters;
}

namespace metrics {

// metrics.*; each default written once.
struct MetricsOptions {
  std::string listen;      // host:port of the /metrics endpoint; "" = off
  int max_portals = 1000;  // portals with series of their own
};

// What the scrape reads. Pointers may be null (that part is left out); they
// must outlive the Metrics.
struct Sources {
  exec::Executor* executor = nullptr;
  auth::OAuthManager* oauth = nullptr;
  const grpcapi::StreamCounters* streams = nullptr;
  const Logger* log = nullptr;  // its dropped lines
};

// A label value for a REST method: the name if it matches the grammar
// (letters, digits, '.', '_', at most 100 characters), else "other".
std::string MethodLabel(const std::string& method);

class Metrics {
 public:
  explicit Metrics(MetricsOptions options);
  ~Metrics();
  // The interceptor that counts RPCs; give it to the ServerBuilder.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();
  // Starts serving GET /metrics on options.listen. INVALID_ARGUMENT when it
  // cannot listen there.
  absl::Status Serve(Sources sources);
  // The bound port (after Serve), e.g. for listen "127.0.0.1:0".
  int port() const;
  // The exposition text, as a scrape would get it (tests).
  std::string Render() const;

 private:
  class RpcMetrics;
  class Collector;
  MetricsOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<RpcMetrics> rpcs_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace metrics
}  // namespace b24
