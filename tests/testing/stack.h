// Stack: the gateway's request path (rest client → executor → curl transport)
// in-process, talking real HTTP to an in-process emulator, both on one clock.
//
// With a FakeClock the stack runs in virtual time: RunUntil() advances the
// clock to the next timer whenever nothing is in flight, so a minute of
// pacing or a ten-minute operating-budget window takes milliseconds of real
// time and no test sleeps.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <sstream>
#include <thread>

#include "service/exec/executor.h"
#include "service/http/curl/curl_transport.h"
#include "service/rest/client.h"
#include "service/rest/export_cursor.h"
#include "tests/testing/emulator/emulator.h"
#include "tests/testing/fake_clock.h"

namespace b24::testing {

class Stack {
 public:
  // No plan detection: tests count the requests they cause (one test turns it on).
  static rest::RestClientOptions TestRestOptions() {
    rest::RestClientOptions o;
    o.detect_plan = false;
    return o;
  }
  static http::CurlOptions TestCurlOptions() {
    http::CurlOptions o;
    o.user_agent = "b24-test";
    o.allow_loopback_addresses = true;
    return o;
  }

  explicit Stack(exec::ExecutorOptions eo = {}, EmulatorOptions emo = {}, LogLevel level = LogLevel::kOff)
      : log_(&log_text_, level),
        emulator_(clock_, std::move(emo)),
        transport_(TestCurlOptions()),
        executor_(transport_, clock_, log_, eo),
        policy_({}, /*allow_http=*/true, /*allow_loopback=*/true),
        rest_(executor_, policy_, clock_, log_, TestRestOptions()) {
    if (!emulator_.Start().ok()) std::abort();
  }
  ~Stack() {
    transport_.Shutdown();  // completions must not reach a destroyed executor
    emulator_.Stop();
  }

  // A portal with a webhook; returns its rest::Portal.
  rest::Portal AddWebhookPortal(PortalOptions options, int* id = nullptr) {
    options.webhooks.push_back({1, "stackcode"});
    auto info = emulator_.AddPortal(std::move(options));
    if (!info.ok()) std::abort();
    if (id) *id = info->id;
    return rest::Portal{"portal" + std::to_string(info->id), info->WebhookUrl(1, "stackcode"), info->domain, nullptr};
  }

  // Runs until `done()` holds or `real_limit` passes: moves virtual time to
  // the next timer whenever no request is in flight for a moment.
  bool RunUntil(const std::function<bool()>& done, absl::Duration real_limit = absl::Seconds(120)) {
    absl::Time stop = absl::Now() + real_limit;
    int idle = 0;
    while (!done()) {
      if (absl::Now() > stop) return false;
      if (executor_.InFlight() == 0 && clock_.PendingTimers() > 0) {
        if (++idle >= 3) {  // idle for a few polls: nothing else is about to happen
          clock_.Set(clock_.NextTimer());
          idle = 0;
        }
      } else {
        idle = 0;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    return true;
  }

  // One call through the rest client, run to completion in virtual time.
  absl::StatusOr<rest::Envelope> Call(const rest::Portal& portal, const std::string& method, rest::Json params) {
    std::optional<absl::StatusOr<rest::Envelope>> out;
    std::mutex mu;
    rest_.Call(portal, method, params, absl::InfiniteFuture(), [&](absl::StatusOr<rest::Envelope> env) {
      std::lock_guard<std::mutex> lock(mu);
      out = std::move(env);
    });
    bool done = RunUntil([&] {
      std::lock_guard<std::mutex> lock(mu);
      return out.has_value();
    });
    std::lock_guard<std::mutex> lock(mu);
    return done ? *std::move(out) : absl::DeadlineExceededError("the call did not finish");
  }

  FakeClock& clock() { return clock_; }
  Emulator& emulator() { return emulator_; }
  exec::Executor& executor() { return executor_; }
  rest::RestClient& rest() { return rest_; }
  // Signs GetAll cursors (a fixed test key).
  const rest::ExportCursor& cursors() { return cursors_; }
  http::CurlTransport& transport() { return transport_; }
  const http::HostPolicy& policy() { return policy_; }
  Logger& logger() { return log_; }
  std::string log() const { return log_text_.str(); }

 private:
  FakeClock clock_;
  std::ostringstream log_text_;
  Logger log_;
  Emulator emulator_;
  http::CurlTransport transport_;
  exec::Executor executor_;
  http::HostPolicy policy_;
  rest::RestClient rest_;
  rest::ExportCursor cursors_{"stack-test-cursor-key"};
};

}  // namespace b24::testing
