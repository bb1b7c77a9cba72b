// export_bench: GetAll's export measured against the seed package's algorithm
// (simple-api-bitrix24 Batch::getAll: a first call for `total`, then offset
// pages, 50 to a batch, batches one after another), both run in this process
// against the same portal emulator over real HTTP. Prints a table and JSON.
//
//   export_bench throughput [N=100000]   items/s and HTTP requests, 200 ms latency, no limits
//   export_bench budget [N=1000000]      virtual time against the operating budget
//                                        at realistic server costs (50 ms a request,
//                                        1 ms an item, 21 us a COUNTed row)
//   export_bench memory [N=1000000]      peak RSS of bitrix24-service streaming N
//                                        items to a deliberately slow gRPC client
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client-sdk/cpp/client.h"
#include "service/rest/batch.h"
#include "service/rest/list_export.h"
#include "tests/testing/service_process.h"
#include "tests/testing/stack.h"

namespace b24 {
namespace {

using rest::Json;

struct Result {
  std::string name;
  int64_t items = 0;
  int64_t http_requests = 0;
  double seconds = 0;  // real or virtual, per mode
  int64_t limit_errors_seen_by_caller = 0;
  int64_t portal_429 = 0, portal_503 = 0;
};

// Fills what the portal counted.
Result Finish(testing::Stack& stack, int id, Result r, absl::Duration elapsed) {
  r.seconds = absl::ToDoubleSeconds(elapsed);
  auto stats = stack.emulator().Stats().portals[id];
  r.http_requests = stats.http_requests;
  r.portal_429 = stats.operation_time_limit;
  r.portal_503 = stats.query_limit_exceeded;
  return r;
}

// GetAll's exporter.
Result RunKeyset(testing::Stack& stack, const rest::Portal& portal, int id, int parallel, bool virtual_time) {
  Result r{parallel == 1 ? "GetAll keyset, 1 range" : "GetAll keyset, parallel ranges"};
  absl::Time v0 = stack.clock().Now();
  absl::Time t0 = absl::Now();
  auto e = rest::ListExport::Start(stack.rest(), stack.cursors(), portal,
                                   {"crm.deal.list", Json::object(), 0, "", parallel}, absl::InfiniteFuture(), [] {});
  stack.RunUntil(
      [&] {
        rest::ExportChunk chunk;
        for (;;) {
          switch (e->Next(&chunk)) {
            case rest::ListExport::Poll::kChunk:
              r.items += static_cast<int64_t>(chunk.items.size());
              continue;
            case rest::ListExport::Poll::kDone:
              return true;
            case rest::ListExport::Poll::kWait:
              return false;
          }
        }
      },
      absl::Hours(1));
  if (!e->status().ok()) {
    std::cerr << r.name << ": " << e->status() << "\n";
    r.limit_errors_seen_by_caller += absl::IsResourceExhausted(e->status());
  }
  return Finish(stack, id, std::move(r), virtual_time ? stack.clock().Now() - v0 : absl::Now() - t0);
}

// The seed package's algorithm, on the same rest client: count, then offset
// pages in sequential batches of 50. Stops at `virtual_limit` (it may never end
// once the operating budget is spent: the seed retries forever).
Result RunSeed(testing::Stack& stack, const rest::Portal& portal, int id, bool virtual_time,
               absl::Duration virtual_limit = absl::InfiniteDuration()) {
  Result r{"seed: count + offset batches"};
  rest::BatchRunner batch(stack.rest());
  absl::Time v0 = stack.clock().Now();
  absl::Time t0 = absl::Now();
  std::atomic<bool> done{false};
  int64_t total = -1, offset = 0;
  std::function<void()> next = [&] {
    if (stack.clock().Now() - v0 > virtual_limit) {
      done = true;
      return;
    }
    if (total < 0) {
      stack.rest().Call(portal, "crm.deal.list", {{"start", 0}}, absl::InfiniteFuture(),
                        [&](absl::StatusOr<rest::Envelope> env) {
                          if (!env.ok()) {
                            r.limit_errors_seen_by_caller++;
                            done = true;
                            return;
                          }
                          total = env->total.value_or(0);
                          r.items += static_cast<int64_t>(env->result.size());
                          offset = 50;
                          next();
                        });
      return;
    }
    if (offset >= total) {
      done = true;
      return;
    }
    std::vector<rest::BatchCommand> commands;
    for (int i = 0; i < 50 && offset + i * 50 < total; ++i) {
      commands.push_back({absl::StrCat("c", i), "crm.deal.list", {{"start", offset + i * 50}}});
    }
    batch.Run(portal, commands, false, absl::InfiniteFuture(),
              [&, n = commands.size()](absl::StatusOr<rest::BatchResult> res) {
                if (!res.ok()) {
                  r.limit_errors_seen_by_caller++;
                  done = true;
                  return;
                }
                for (const auto& c : res->commands) {
                  if (c.state == rest::BatchCommandResult::State::kOk)
                    r.items += static_cast<int64_t>(c.result.size());
                  else
                    r.limit_errors_seen_by_caller++;
                }
                offset += static_cast<int64_t>(n) * 50;
                next();
              });
  };
  next();
  stack.RunUntil([&] { return done.load(); }, absl::Hours(1));
  return Finish(stack, id, std::move(r), virtual_time ? stack.clock().Now() - v0 : absl::Now() - t0);
}

void Print(const std::vector<Result>& results, const char* unit) {
  std::printf("%-34s %10s %8s %12s %12s %10s %6s %6s\n", "algorithm", "items", "HTTP", unit, "items/s", "ratio", "429",
              "503");
  double base = results.front().items / std::max(1e-9, results.front().seconds);
  for (const Result& r : results) {
    if (r.seconds < 1e-6) {  // all within the bucket's burst and the first budget window: no waiting at all
      std::printf("%-34s %10lld %8lld %12.2f %12s %10s %6lld %6lld\n", r.name.c_str(), (long long)r.items,
                  (long long)r.http_requests, r.seconds, "no wait", "-", (long long)r.portal_429,
                  (long long)r.portal_503);
      continue;
    }
    double rate = r.items / r.seconds;
    std::printf("%-34s %10lld %8lld %12.2f %12.0f %10.2f %6lld %6lld\n", r.name.c_str(), (long long)r.items,
                (long long)r.http_requests, r.seconds, rate, rate / base, (long long)r.portal_429,
                (long long)r.portal_503);
  }
}

int Throughput(int64_t n) {
  std::vector<Result> results;
  for (int algorithm = 0; algorithm < 3; ++algorithm) {
    testing::Stack stack;
    testing::PortalOptions po;
    po.seed.deals = n;
    po.rate_limit.enabled = false;
    po.operating.enabled = false;
    po.latency = absl::Milliseconds(200);  // a portal answering a 50-page batch (real ones take seconds)
    int id;
    rest::Portal portal = stack.AddWebhookPortal(po, &id);
    if (algorithm == 0)
      results.push_back(RunSeed(stack, portal, id, false));
    else
      results.push_back(RunKeyset(stack, portal, id, algorithm == 1 ? 1 : 0, false));
  }
  std::printf("throughput, %lld deals, 200 ms portal latency, no limits, real time (ratio vs the seed algorithm)\n",
              (long long)n);
  Print(results, "seconds");
  return 0;
}

int Budget(int64_t n) {
  std::vector<Result> results;
  absl::Duration keyset_time;
  for (int algorithm = 1; algorithm >= 0; --algorithm) {
    testing::Stack stack;
    testing::PortalOptions po;
    po.seed.deals = n;
    po.cost.per_request = absl::Milliseconds(50);
    po.cost.per_item = absl::Milliseconds(1);
    po.cost.per_count_row = absl::Microseconds(21);
    int id;
    rest::Portal portal = stack.AddWebhookPortal(po, &id);
    if (algorithm == 1) {
      results.push_back(RunKeyset(stack, portal, id, 0, true));
      keyset_time = absl::Seconds(results.back().seconds);
    } else {
      // The seed algorithm on the same virtual time budget.
      results.push_back(RunSeed(stack, portal, id, true, std::max(keyset_time, absl::Minutes(10))));
    }
  }
  std::printf("operating budget, %lld deals, costs 50 ms/request + 1 ms/item + 21 us/COUNTed row, virtual time\n",
              (long long)n);
  std::swap(results[0], results[1]);
  Print(results, "v-seconds");
  // The budget allows 480 s of server time per 600 s; a keyset page of 50 items costs 0.1 s.
  double budget_rate = 480.0 / 600.0 / 0.1 * 50;
  const Result& k = results[1];
  double rate = k.items / std::max(1e-9, k.seconds);
  double budget_seconds = std::max(0.0, (k.items / 50.0 * 0.1 - 480.0) / 480.0 * 600.0);
  if (budget_seconds == 0) {
    std::printf("budget-limited rate %.0f items/s; GetAll needed no wait: the export fit in the first budget window\n",
                budget_rate);
  } else {
    std::printf("budget-limited rate %.0f items/s; GetAll reached %.0f items/s (%.0f%% of it)\n", budget_rate, rate,
                100 * rate / budget_rate);
  }
  return k.limit_errors_seen_by_caller == 0 && k.items == n ? 0 : 1;
}

int64_t PeakRssKib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

int Memory(int64_t n) {
  RealClock clock;
  testing::Emulator emulator(clock);
  if (!emulator.Start().ok()) return 1;
  testing::PortalOptions po;
  po.seed.deals = n;
  po.rate_limit.enabled = false;
  po.operating.enabled = false;
  po.webhooks.push_back({1, "benchcode"});
  auto portal = emulator.AddPortal(po);
  if (!portal.ok()) return 1;
  auto svc = testing::ServiceProcess::Start(
      B24_SERVICE_BINARY, {"--security.allow_loopback=true", "--security.allow_http=true",
                           // the emulator runs without limits here: let the gateway go as fast
                           "--limits.burst=1000", "--limits.drain_per_second=1000",
                           "--store.url=sqlite3://db=/tmp/b24-bench-" + std::to_string(getpid()) + ".db"});
  if (!svc.ok()) {
    std::cerr << svc.status() << "\n";
    return 1;
  }
  int64_t idle_kib = PeakRssKib((*svc)->pid());
  // A slow client: reads a message, then sleeps 20 ms.
  auto channel = grpc::CreateChannel((*svc)->target(), grpc::InsecureChannelCredentials());
  auto stub = bitrix24::v1::Bitrix24Service::NewStub(channel);
  bitrix24::v1::GetAllRequest request;
  request.mutable_portal()->set_webhook_url(portal->WebhookUrl(1, "benchcode"));
  request.set_method("crm.deal.list");
  request.set_format(bitrix24::v1::GetAllRequest::FORMAT_JSON);
  grpc::ClientContext ctx;
  auto reader = stub->GetAll(&ctx, request);
  bitrix24::v1::GetAllResponse msg;
  int64_t items = 0, messages = 0, peak_kib = 0;
  absl::Time t0 = absl::Now();
  while (reader->Read(&msg)) {
    items += msg.items_json_size();
    if (++messages % 20 == 0) peak_kib = std::max(peak_kib, PeakRssKib((*svc)->pid()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  grpc::Status s = reader->Finish();
  peak_kib = std::max(peak_kib, PeakRssKib((*svc)->pid()));
  double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  (*svc)->Stop();
  std::printf("memory: %lld items in %lld messages to a slow client (20 ms a message) in %.1f s: %s\n",
              (long long)items, (long long)messages, seconds, s.ok() ? "OK" : s.error_message().c_str());
  std::printf("bitrix24-service peak RSS %.1f MiB (%.1f MiB after start-up, before the export)\n", peak_kib / 1024.0,
              idle_kib / 1024.0);
  return s.ok() && items == n && peak_kib < 100 * 1024 ? 0 : 1;
}

}  // namespace
}  // namespace b24

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "throughput";
  int64_t n = argc > 2 ? std::stoll(argv[2]) : 0;
  if (mode == "throughput") return b24::Throughput(n ? n : 100'000);
  if (mode == "budget") return b24::Budget(n ? n : 1'000'000);
  if (mode == "memory") return b24::Memory(n ? n : 1'000'000);
  std::cerr << "usage: export_bench throughput|budget|memory [N]\n";
  return 2;
}
