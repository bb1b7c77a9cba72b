#include "service/metrics/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "service/exec/executor.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_transport.h"

namespace b24::metrics {
namespace {

TEST(MethodLabelTest, Table) {
  const std::map<std::string, std::string> cases = {
      {"crm.deal.list", "crm.deal.list"},
      {"CRM.Deal.List", "crm.deal.list"},  // one series whatever the caller's case
      {"user.current", "user.current"},
      {"tasks.task.list", "tasks.task.list"},
      {"crm.item_list", "crm.item_list"},
      {"", "other"},
      {"crm.deal.list/../x", "other"},
      {"1/abcdef0123456789/crm.deal.list", "other"},  // a webhook path: never a label
      {"crm.deal.list?auth=secret", "other"},
      {"crm deal", "other"},
      {std::string(101, 'a'), "other"},
      {std::string(100, 'a'), std::string(100, 'a')},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(MethodLabel(in), want) << in;
}

class MetricsTest : public ::testing::Test {
 protected:
  MetricsTest() : log_(&log_text_, LogLevel::kOff) {}
  void Submit(const std::string& portal, const std::string& method) {
    exec::Job job;
    job.portal = portal;
    job.method = method;
    job.idempotent = true;
    job.deadline = absl::InfiniteFuture();
    job.build = [portal, method]() -> absl::StatusOr<http::HttpRequest> {
      http::HttpRequest r;
      r.url = "https://" + portal + "/rest/" + method;
      return r;
    };
    job.judge = [](absl::StatusOr<http::HttpResponse> r) {
      exec::Verdict v;
      v.outcome = r.ok() && r->status == 200 ? exec::Outcome::kSuccess : exec::Outcome::kFinal;
      if (v.outcome != exec::Outcome::kSuccess) v.status = absl::NotFoundError("ERROR_METHOD_NOT_FOUND");
      return v;
    };
    executor_->Submit(std::move(job), [](absl::Status) {});
  }
  std::ostringstream log_text_;
  Logger log_;
  testing::FakeClock clock_;
  testing::FakeTransport transport_;
  std::unique_ptr<exec::Executor> executor_;
};

TEST_F(MetricsTest, PortalsBeyondTheCapAreSummedAsOther) {
  executor_ = std::make_unique<exec::Executor>(transport_, clock_, log_, exec::ExecutorOptions{});
  transport_.SetResponder([](const http::HttpRequest& r) {
    return testing::FakeTransport::Json(r.url.find("nope") == std::string::npos ? 200 : 404, "");
  });
  Submit("a.bitrix24.com", "crm.deal.get");
  Submit("a.bitrix24.com", "crm.deal.get");
  Submit("a.bitrix24.com", "crm.nope");
  Submit("b.bitrix24.com", "Crm.Deal.Get");
  Submit("c.bitrix24.com", "crm.deal.get");
  MetricsOptions options;
  options.listen = "127.0.0.1:0";
  options.max_portals = 2;
  Metrics metrics(options);
  ASSERT_TRUE(metrics.Serve({executor_.get(), nullptr, nullptr}).ok());
  EXPECT_GT(metrics.port(), 0);
  std::string text = metrics.Render();
  auto has = [&text](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  // Within a scrape portals are admitted in name order: a and b get their own series, c is "other".
  EXPECT_TRUE(has(R"(bitrix24_upstream_requests_total{method="crm.deal.get",portal="a.bitrix24.com"} 2)")) << text;
  EXPECT_TRUE(has(R"(bitrix24_upstream_requests_total{method="crm.nope",portal="a.bitrix24.com"} 1)")) << text;
  EXPECT_TRUE(has(R"(bitrix24_upstream_answers_total{method="crm.nope",outcome="final",portal="a.bitrix24.com"} 1)"))
      << text;
  EXPECT_TRUE(has(R"(bitrix24_upstream_requests_total{method="crm.deal.get",portal="b.bitrix24.com"} 1)")) << text;
  EXPECT_TRUE(has(R"(bitrix24_upstream_requests_total{method="crm.deal.get",portal="other"} 1)")) << text;
  EXPECT_EQ(text.find("c.bitrix24.com"), std::string::npos) << text;
  // An outcome that never happened has no series.
  EXPECT_EQ(text.find(R"(outcome="rate_limited")"), std::string::npos) << text;

  // Admitted for good: a portal that sorts first but comes later joins "other".
  Submit("0.bitrix24.com", "crm.deal.get");
  text = metrics.Render();
  EXPECT_TRUE(has(R"(bitrix24_upstream_requests_total{method="crm.deal.get",portal="a.bitrix24.com"} 2)")) << text;
  EXPECT_TRUE(has(R"(bitrix24_upstream_requests_total{method="crm.deal.get",portal="other"} 2)")) << text;
  EXPECT_EQ(text.find("0.bitrix24.com"), std::string::npos) << text;
}

TEST_F(MetricsTest, AnAddressInUseIsAClearError) {
  executor_ = std::make_unique<exec::Executor>(transport_, clock_, log_, exec::ExecutorOptions{});
  MetricsOptions options;
  options.listen = "127.0.0.1:0";
  Metrics first(options);
  ASSERT_TRUE(first.Serve({executor_.get(), nullptr, nullptr}).ok());
  options.listen = "127.0.0.1:" + std::to_string(first.port());
  Metrics second(options);
  absl::Status s = second.Serve({executor_.get(), nullptr, nullptr});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("metrics.listen"), std::string::npos) << s;
}

}  // namespace
}  // namespace b24::metrics
