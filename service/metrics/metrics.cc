#include "service/metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <iterator>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "service/auth/oauth.h"
#include "service/common/log.h"
#include "service/exec/executor.h"
#include "service/grpc/service_impl.h"

namespace b24::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr size_t kMaxMethodLabel = 100;

const char* kGrpcCodes[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

std::string CodeLabel(grpc::StatusCode code) {
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kGrpcCodes[i] : "UNKNOWN";
}

// Letters, digits, '.', '_' (and '/' when `slash`), 1 to kMaxMethodLabel characters.
bool IsLabelName(absl::string_view s, bool slash) {
  if (s.empty() || s.size() > kMaxMethodLabel) return false;
  return std::all_of(s.begin(), s.end(),
                     [slash](char c) { return absl::ascii_isalnum(c) || c == '.' || c == '_' || (slash && c == '/'); });
}

// "/bitrix24.v1.Bitrix24Service/Call" → "bitrix24.v1.Bitrix24Service/Call"; others bounded.
std::string RpcLabel(const char* path) {
  absl::string_view p = path ? path : "";
  absl::ConsumePrefix(&p, "/");
  return IsLabelName(p, /*slash=*/true) ? std::string(p) : "other";
}

ClientMetric Sample(std::vector<ClientMetric::Label> labels, double value, MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

}  // namespace

std::string MethodLabel(const std::string& method) {
  return IsLabelName(method, /*slash=*/false) ? absl::AsciiStrToLower(method) : "other";
}

// RPCs by method and code, and their latency.
class Metrics::RpcMetrics {
 public:
  explicit RpcMetrics(prometheus::Registry& registry)
      : total_(prometheus::BuildCounter()
                   .Name("bitrix24_rpc_total")
                   .Help("gRPC calls finished, by method and gRPC status code")
                   .Register(registry)),
        latency_(prometheus::BuildHistogram()
                     .Name("bitrix24_rpc_duration_seconds")
                     .Help("time from a call's start to its status (GetAll: the whole stream)")
                     .Register(registry)) {}

  void Record(const std::string& method, grpc::StatusCode code, double seconds) {
    prometheus::Counter* counter;
    prometheus::Histogram* histogram;
    {
      std::lock_guard<std::mutex> lock(mu_);  // Family::Add is a map lookup; cache the handles
      auto key = std::make_pair(method, static_cast<int>(code));
      auto it = counters_.find(key);
      if (it == counters_.end()) {
        it = counters_.emplace(key, &total_.Add({{"method", method}, {"code", CodeLabel(code)}})).first;
      }
      counter = it->second;
      auto h = histograms_.find(method);
      if (h == histograms_.end()) {
        static const prometheus::Histogram::BucketBoundaries kBuckets = {
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
        h = histograms_.emplace(method, &latency_.Add({{"method", method}}, kBuckets)).first;
      }
      histogram = h->second;
    }
    counter->Increment();
    histogram->Observe(seconds);
  }

 private:
  prometheus::Family<prometheus::Counter>& total_;
  prometheus::Family<prometheus::Histogram>& latency_;
  std::mutex mu_;
  std::map<std::pair<std::string, int>, prometheus::Counter*> counters_;
  std::map<std::string, prometheus::Histogram*> histograms_;
};

namespace {

class RpcInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RpcInterceptor(std::function<void(grpc::StatusCode, double)> record)
      : record_(std::move(record)), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      record_(methods->GetSendStatus().error_code(), seconds);
    }
    methods->Proceed();
  }

 private:
  std::function<void(grpc::StatusCode, double)> record_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

class Metrics::Collector final : public prometheus::Collectable {
 public:
  Collector(Sources sources, int max_portals) : sources_(sources), max_portals_(max_portals) {}

  std::vector<MetricFamily> Collect() const override {
    // A deque: the references family() hands out stay valid as more are added.
    std::deque<MetricFamily> families;
    auto family = [&](const char* name, const char* help, MetricType type) -> MetricFamily& {
      families.push_back(MetricFamily{name, help, type, {}});
      return families.back();
    };
    if (sources_.executor) CollectExecutor(family);
    if (sources_.oauth) {
      family("bitrix24_token_refreshes_total", "OAuth token refresh requests sent", MetricType::Counter)
          .metric.push_back(Sample({}, static_cast<double>(sources_.oauth->refresh_requests()), MetricType::Counter));
      family("bitrix24_token_refresh_failures_total",
             "token refreshes that failed (OAuth server unreachable, or it refused the refresh token)",
             MetricType::Counter)
          .metric.push_back(Sample({}, static_cast<double>(sources_.oauth->refresh_failures()), MetricType::Counter));
    }
    if (sources_.log) {
      family("bitrix24_log_dropped_lines_total", "log lines dropped because the logging queue (log.queue) was full",
             MetricType::Counter)
          .metric.push_back(Sample({}, static_cast<double>(sources_.log->dropped()), MetricType::Counter));
    }
    if (sources_.streams) {
      family("bitrix24_getall_items_total", "items streamed to GetAll callers", MetricType::Counter)
          .metric.push_back(Sample({}, static_cast<double>(sources_.streams->items.load()), MetricType::Counter));
      family("bitrix24_getall_bytes_total", "bytes of the GetAll messages that carried them", MetricType::Counter)
          .metric.push_back(Sample({}, static_cast<double>(sources_.streams->bytes.load()), MetricType::Counter));
    }
    return {std::make_move_iterator(families.begin()), std::make_move_iterator(families.end())};
  }

 private:
  template <class Family>
  void CollectExecutor(Family& family) const {
    std::vector<exec::PortalSnapshot> portals = sources_.executor->Snapshot();
    // A portal keeps its own series once it has them: the first max_portals
    // portals seen (in name order within one scrape) are admitted for good.
    std::sort(portals.begin(), portals.end(),
              [](const exec::PortalSnapshot& a, const exec::PortalSnapshot& b) { return a.host < b.host; });
    auto& requests = family("bitrix24_upstream_requests_total", "HTTP requests sent to portals, retries included",
                            MetricType::Counter);
    auto& answers = family("bitrix24_upstream_answers_total",
                           "portal answers by how the executor judged them (success, final, transient, "
                           "rate_limited = QUERY_LIMIT_EXCEEDED, operating_limit = OPERATION_TIME_LIMIT, retry_now)",
                           MetricType::Counter);
    auto& retries = family("bitrix24_upstream_retries_total", "requests that were repeats", MetricType::Counter);
    auto& failures =
        family("bitrix24_upstream_failures_total", "jobs that ended in an error for their caller", MetricType::Counter);
    auto& waits = family("bitrix24_limit_wait_seconds_total",
                         "time requests waited in the queue for the portal's bucket or the method's operating budget",
                         MetricType::Counter);
    auto& operating =
        family("bitrix24_operating_seconds",
               "server time the method used in the portal's current 10-minute window (last answer)", MetricType::Gauge);
    auto& level = family("bitrix24_bucket_level", "estimated requests in the portal's leaky bucket", MetricType::Gauge);
    auto& drain =
        family("bitrix24_bucket_drain_per_second", "the portal's effective drain rate in force", MetricType::Gauge);
    auto& in_flight = family("bitrix24_in_flight_requests", "requests in flight to the portal", MetricType::Gauge);
    auto& queued =
        family("bitrix24_executor_queue_depth", "requests waiting in the executor's queue", MetricType::Gauge);

    // Portals beyond max_portals are summed under "other".
    std::map<std::string, std::map<std::string, exec::MethodCounters>> other;
    double other_level = 0, other_in_flight = 0, other_queued = 0;
    std::lock_guard<std::mutex> lock(admitted_mu_);
    for (const exec::PortalSnapshot& p : portals) {
      bool own = admitted_.count(p.host) > 0;
      if (!own && admitted_.size() < static_cast<size_t>(max_portals_)) {
        admitted_.insert(p.host);
        own = true;
      }
      if (!own) {
        other_in_flight += p.in_flight;
        other_queued += p.queued;
        other_level += p.bucket_level;
        for (const auto& [m, c] : p.methods) Add(other["other"][m], c);
        continue;
      }
      std::vector<ClientMetric::Label> portal = {{"portal", p.host}};
      level.metric.push_back(Sample(portal, p.bucket_level, MetricType::Gauge));
      drain.metric.push_back(Sample(portal, p.drain, MetricType::Gauge));
      in_flight.metric.push_back(Sample(portal, p.in_flight, MetricType::Gauge));
      queued.metric.push_back(Sample(portal, p.queued, MetricType::Gauge));
      std::map<std::string, exec::MethodCounters> methods;
      for (const auto& [m, c] : p.methods) Add(methods[MethodLabel(m)], c);
      for (const auto& [m, c] : methods) {
        PushMethod(p.host, m, c, requests, answers, retries, failures, waits, &operating);
      }
    }
    if (!other.empty() || other_queued > 0 || other_in_flight > 0) {
      std::vector<ClientMetric::Label> portal = {{"portal", "other"}};
      level.metric.push_back(Sample(portal, other_level, MetricType::Gauge));
      in_flight.metric.push_back(Sample(portal, other_in_flight, MetricType::Gauge));
      queued.metric.push_back(Sample(portal, other_queued, MetricType::Gauge));
      for (const auto& [m, c] : other["other"]) {
        PushMethod("other", MethodLabel(m), c, requests, answers, retries, failures, waits, nullptr);
      }
    }
  }

  static void Add(exec::MethodCounters& to, const exec::MethodCounters& c) {
    to.requests += c.requests;
    to.retries += c.retries;
    to.failures += c.failures;
    to.bucket_wait_seconds += c.bucket_wait_seconds;
    to.budget_wait_seconds += c.budget_wait_seconds;
    to.operating_seconds = std::max(to.operating_seconds, c.operating_seconds);
    for (int i = 0; i < exec::kOutcomeCount; ++i) to.outcomes[i] += c.outcomes[i];
  }

  static void PushMethod(const std::string& host, const std::string& method, const exec::MethodCounters& c,
                         MetricFamily& requests, MetricFamily& answers, MetricFamily& retries, MetricFamily& failures,
                         MetricFamily& waits, MetricFamily* operating) {
    std::vector<ClientMetric::Label> l = {{"method", method}, {"portal", host}};
    requests.metric.push_back(Sample(l, static_cast<double>(c.requests), MetricType::Counter));
    retries.metric.push_back(Sample(l, static_cast<double>(c.retries), MetricType::Counter));
    failures.metric.push_back(Sample(l, static_cast<double>(c.failures), MetricType::Counter));
    for (int i = 0; i < exec::kOutcomeCount; ++i) {
      if (c.outcomes[i] == 0) continue;  // a series appears with its first answer
      const char* outcome = exec::OutcomeName(static_cast<exec::Outcome>(i));
      answers.metric.push_back(Sample({{"method", method}, {"outcome", outcome}, {"portal", host}},
                                      static_cast<double>(c.outcomes[i]), MetricType::Counter));
    }
    waits.metric.push_back(Sample({{"limit", "bucket"}, {"method", method}, {"portal", host}}, c.bucket_wait_seconds,
                                  MetricType::Counter));
    waits.metric.push_back(Sample({{"limit", "budget"}, {"method", method}, {"portal", host}}, c.budget_wait_seconds,
                                  MetricType::Counter));
    if (operating && c.operating_seconds > 0) {
      operating->metric.push_back(Sample(l, c.operating_seconds, MetricType::Gauge));
    }
  }

  Sources sources_;
  int max_portals_;
  mutable std::mutex admitted_mu_;  // scrapes may run concurrently
  mutable std::set<std::string> admitted_;
};

Metrics::Metrics(MetricsOptions options)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      rpcs_(std::make_shared<RpcMetrics>(*registry_)) {}

Metrics::~Metrics() = default;

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Metrics::InterceptorFactory() {
  class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
   public:
    explicit Factory(std::shared_ptr<RpcMetrics> rpcs) : rpcs_(std::move(rpcs)) {}
    grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
      std::string method = RpcLabel(info->method());
      std::shared_ptr<RpcMetrics> rpcs = rpcs_;
      return new RpcInterceptor(
          [rpcs, method](grpc::StatusCode code, double seconds) { rpcs->Record(method, code, seconds); });
    }

   private:
    std::shared_ptr<RpcMetrics> rpcs_;
  };
  return std::make_unique<Factory>(rpcs_);
}

absl::Status Metrics::Serve(Sources sources) {
  collector_ = std::make_shared<Collector>(sources, options_.max_portals);
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(options_.listen, 1);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot serve metrics on ", options_.listen, " (metrics.listen): ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(collector_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (!exposer_) return 0;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports[0];
}

std::string Metrics::Render() const {
  std::vector<MetricFamily> all = registry_->Collect();
  if (collector_) {
    std::vector<MetricFamily> more = collector_->Collect();
    all.insert(all.end(), more.begin(), more.end());
  }
  return prometheus::TextSerializer().Serialize(all);
}

}  // namespace b24::metrics
