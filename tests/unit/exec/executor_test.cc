#include "service/exec/executor.h"

#include <gtest/gtest.h>

#include <sstream>

#include "service/common/status.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_transport.h"

namespace b24::exec {
namespace {

using testing::FakeClock;
using testing::FakeTransport;

// Judges by the fake response status: 200 ok, 503 rate limit, 429 operating
// limit (body = reset_at), 500 transient; transport errors transient.
Verdict Judge(const std::string& method, absl::StatusOr<http::HttpResponse> r) {
  Verdict v;
  if (!r.ok()) {
    v.outcome = Outcome::kTransient;
    v.status = r.status();
    v.surely_not_executed = http::SurelyNotSent(r.status());
    return v;
  }
  switch (r->status) {
    case 200:
      v.outcome = Outcome::kSuccess;
      if (!r->body.empty()) {
        double operating;
        int64_t reset;
        std::istringstream(r->body) >> operating >> reset;
        v.operating.push_back({method, operating, reset, 1.0});
      }
      return v;
    case 503:
      v.outcome = Outcome::kRateLimited;
      v.status = absl::ResourceExhaustedError("QUERY_LIMIT_EXCEEDED");
      v.surely_not_executed = true;
      return v;
    case 429:
      v.outcome = Outcome::kOperatingLimit;
      v.status = absl::ResourceExhaustedError("OPERATION_TIME_LIMIT");
      v.surely_not_executed = true;
      return v;
    default:
      v.outcome = Outcome::kTransient;
      v.status = absl::UnavailableError("INTERNAL_SERVER_ERROR");
      return v;
  }
}

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() : log_(&log_text_, LogLevel::kOff) {}

  void Make(ExecutorOptions o = {}) { executor_ = std::make_unique<Executor>(transport_, clock_, log_, o); }

  // Submits a job and records its final status in `results_[id]`.
  void Submit(int id, const std::string& portal = "p.bitrix24.com", const std::string& method = "crm.deal.list",
              bool idempotent = true, absl::Duration deadline = absl::InfiniteDuration(),
              const std::string& caller = "") {
    Job job;
    job.portal = portal;
    job.caller = caller;
    job.method = method;
    job.idempotent = idempotent;
    job.deadline = deadline == absl::InfiniteDuration() ? absl::InfiniteFuture() : clock_.Now() + deadline;
    job.build = [portal, method, id]() -> absl::StatusOr<http::HttpRequest> {
      http::HttpRequest r;
      r.url = "https://" + portal + "/rest/" + method + "#" + std::to_string(id);
      return r;
    };
    job.judge = [method](absl::StatusOr<http::HttpResponse> r) { return Judge(method, std::move(r)); };
    executor_->Submit(std::move(job), [this, id](absl::Status s) {
      std::lock_guard<std::mutex> lock(mu_);
      results_[id] = s;
    });
  }

  size_t Done() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.size();
  }
  absl::Status Result(int id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = results_.find(id);
    return it == results_.end() ? absl::UnknownError("not done") : it->second;
  }

  std::ostringstream log_text_;
  Logger log_;
  FakeClock clock_;
  FakeTransport transport_;
  std::unique_ptr<Executor> executor_;
  std::mutex mu_;
  std::map<int, absl::Status> results_;
};

TEST_F(ExecutorTest, SendsABurstThenPacesAtTheDrainRate) {
  ExecutorOptions o;
  o.max_in_flight_per_portal = 1000;
  Make(o);
  transport_.SetResponder([](const http::HttpRequest&) { return FakeTransport::Json(200, ""); });
  for (int i = 0; i < 60; ++i) Submit(i);
  // burst 50 minus a safety margin of 2
  EXPECT_EQ(transport_.sent().size(), 48u);
  clock_.Advance(absl::Milliseconds(499));
  EXPECT_EQ(transport_.sent().size(), 48u);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(transport_.sent().size(), 49u);
  clock_.Advance(absl::Seconds(5));  // 2/s
  EXPECT_EQ(transport_.sent().size(), 59u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Done(), 60u);
}

TEST_F(ExecutorTest, SnapshotCountsOutcomesWaitsAndTheBucket) {
  ExecutorOptions o;
  o.max_in_flight_per_portal = 1000;
  Make(o);
  transport_.SetResponder([](const http::HttpRequest&) { return FakeTransport::Json(200, ""); });
  for (int i = 0; i < 50; ++i) Submit(i);  // 48 go at once, 2 wait 0.5 s and 1 s for the bucket
  auto before = executor_->Snapshot();
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].host, "p.bitrix24.com");
  EXPECT_EQ(before[0].queued, 2);
  EXPECT_NEAR(before[0].bucket_level, 48, 0.01);
  EXPECT_DOUBLE_EQ(before[0].drain, 2);
  clock_.Advance(absl::Seconds(1));
  ASSERT_EQ(Done(), 50u);
  auto after = executor_->Snapshot();
  const MethodCounters& c = after[0].methods.at("crm.deal.list");
  EXPECT_EQ(c.requests, 50);
  EXPECT_EQ(c.outcomes[static_cast<int>(Outcome::kSuccess)], 50);
  EXPECT_EQ(c.outcomes[static_cast<int>(Outcome::kRateLimited)], 0);
  EXPECT_NEAR(c.bucket_wait_seconds, 1.5, 0.01);
  EXPECT_DOUBLE_EQ(c.budget_wait_seconds, 0);
  EXPECT_EQ(after[0].queued, 0);
  EXPECT_NEAR(after[0].bucket_level, 48, 0.01);  // drained 2 in the second, took the 2 waiting
}

TEST_F(ExecutorTest, EnterprisePortalsGetTheirOwnBucket) {
  ExecutorOptions o;
  o.max_in_flight_per_portal = 1000;
  o.plans["big.bitrix24.com"] = Plan::kEnterprise;
  Make(o);
  transport_.SetResponder([](const http::HttpRequest&) { return FakeTransport::Json(200, ""); });
  for (int i = 0; i < 300; ++i) Submit(i, "big.bitrix24.com");
  EXPECT_EQ(transport_.sent().size(), 248u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(transport_.sent().size(), 253u);
}

TEST_F(ExecutorTest, AFloodOnOnePortalDoesNotDelayAnother) {
  Make();
  for (int i = 0; i < 500; ++i) Submit(i, "flood.bitrix24.com");
  Submit(1000, "quiet.bitrix24.com");
  auto sent = transport_.sent();
  EXPECT_NE(sent.back().url.find("quiet.bitrix24.com"), std::string::npos);
}

TEST_F(ExecutorTest, CallersOfOnePortalAreServedFairly) {
  ExecutorOptions o;
  o.max_in_flight_per_portal = 1;
  Make(o);
  for (int i = 0; i < 100; ++i) Submit(i, "p.bitrix24.com", "crm.deal.list", true, absl::InfiniteDuration(), "flood");
  Submit(1000, "p.bitrix24.com", "crm.deal.get", true, absl::InfiniteDuration(), "single");
  // The flood's first job is in flight; the single job goes out after at most one more of the flood's.
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));
  auto sent = transport_.sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_TRUE(sent[1].url.find("crm.deal.get") != std::string::npos ||
              sent[2].url.find("crm.deal.get") != std::string::npos)
      << "the single job waited behind the flood";
}

TEST_F(ExecutorTest, CapsRequestsInFlightPerPortal) {
  ExecutorOptions o;
  o.max_in_flight_per_portal = 3;
  Make(o);
  for (int i = 0; i < 10; ++i) Submit(i);
  EXPECT_EQ(transport_.pending(), 3u);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));
  EXPECT_EQ(transport_.pending(), 3u);
  EXPECT_EQ(transport_.sent().size(), 4u);
}

TEST_F(ExecutorTest, RetriesQueryLimitExceededEvenForWritesAndSlowsDown) {
  Make();
  Submit(1, "p.bitrix24.com", "crm.deal.add", /*idempotent=*/false);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(503, "")));
  EXPECT_EQ(transport_.sent().size(), 1u);  // waits for the bucket, which it now believes full
  EXPECT_LT(executor_->EffectiveDrain("p.bitrix24.com"), 2.0);
  clock_.Advance(absl::Seconds(1));
  ASSERT_EQ(transport_.sent().size(), 2u);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));
  EXPECT_TRUE(Result(1).ok());
  EXPECT_EQ(executor_->Counters()["p.bitrix24.com"]["crm.deal.add"].query_limit_exceeded, 1);
}

TEST_F(ExecutorTest, AnAmbiguousWriteFailureIsNotRetried) {
  Make();
  Submit(1, "p.bitrix24.com", "crm.deal.add", /*idempotent=*/false);
  ASSERT_TRUE(transport_.Complete(absl::UnavailableError("connection reset after the request was sent")));
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(transport_.sent().size(), 1u);
  absl::Status s = Result(1);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetErrorDetail(s)->metadata["may_have_executed"], "true");
  EXPECT_NE(s.message().find("may have been executed"), std::string::npos);
}

TEST_F(ExecutorTest, AWriteThatSurelyWasNotSentIsRetried) {
  Make();
  Submit(1, "p.bitrix24.com", "crm.deal.add", /*idempotent=*/false);
  ASSERT_TRUE(transport_.Complete(http::MarkNotSent(absl::UnavailableError("connection refused"))));
  clock_.Advance(absl::Seconds(2));
  ASSERT_EQ(transport_.sent().size(), 2u);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));
  EXPECT_TRUE(Result(1).ok());
}

TEST_F(ExecutorTest, ReadsAreRetriedABoundedNumberOfTimes) {
  ExecutorOptions o;
  o.retry.max_attempts = 3;
  Make(o);
  transport_.SetResponder([](const http::HttpRequest&) { return FakeTransport::Json(500, ""); });
  Submit(1);
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(transport_.sent().size(), 3u);
  EXPECT_EQ(Result(1).code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(Result(1).message().find("gave up after 3 attempts"), std::string::npos);
}

TEST_F(ExecutorTest, NoRetryOutlivesTheDeadline) {
  Make();
  transport_.SetResponder([](const http::HttpRequest&) { return FakeTransport::Json(500, ""); });
  Submit(1, "p.bitrix24.com", "crm.deal.list", true, absl::Milliseconds(300));
  // The first backoff (≥ 400 ms) would end after the deadline: fail now.
  EXPECT_EQ(transport_.sent().size(), 1u);
  EXPECT_EQ(Result(1).code(), absl::StatusCode::kUnavailable);
}

TEST_F(ExecutorTest, ARequestThatCannotBeSentBeforeItsDeadlineFailsAtOnce) {
  ExecutorOptions o;
  o.max_in_flight_per_portal = 1000;
  Make(o);
  transport_.SetResponder([](const http::HttpRequest&) { return FakeTransport::Json(200, ""); });
  for (int i = 0; i < 48; ++i) Submit(i);
  Submit(100, "p.bitrix24.com", "crm.deal.list", true, absl::Milliseconds(200));
  absl::Status s = Result(100);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("cannot be sent before the deadline"), std::string::npos);
  EXPECT_EQ(transport_.sent().size(), 48u);
}

TEST_F(ExecutorTest, NoAttemptStartsWithLessThanTheMinimumAttemptTimeLeft) {
  ExecutorOptions o;
  o.retry.min_attempt_time = absl::Milliseconds(50);
  Make(o);
  transport_.SetResponder([](const http::HttpRequest&) { return FakeTransport::Json(200, ""); });
  struct Case {
    absl::Duration deadline;
    bool sent;
  };
  const Case cases[] = {{absl::Milliseconds(1), false},
                        {absl::Milliseconds(60), false},  // 60 - reply margin 20 < 50
                        {absl::Milliseconds(71), true}};
  int id = 0;
  for (const Case& c : cases) {
    size_t before = transport_.sent().size();
    Submit(++id, "p.bitrix24.com", "crm.deal.add", /*idempotent=*/false, c.deadline);
    EXPECT_EQ(transport_.sent().size(), before + (c.sent ? 1 : 0)) << c.deadline;
    absl::Status s = Result(id);
    if (c.sent) {
      EXPECT_TRUE(s.ok()) << s;
      // The attempt ends before the caller's deadline, leaving time to answer.
      EXPECT_EQ(transport_.sent().back().timeout, c.deadline - kReplyMargin);
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << c.deadline;
      EXPECT_EQ(GetErrorDetail(s)->reason, "DEADLINE_BEFORE_SEND") << s;
      EXPECT_EQ(GetErrorDetail(s)->metadata.count("may_have_executed"), 0u);
    }
  }
}

TEST_F(ExecutorTest, AWriteThatFailedAfterItWasSentSaysItMayHaveRun) {
  Make();
  struct Case {
    Outcome outcome;
    bool surely_not_executed;
    bool marked;
  };
  const Case cases[] = {
      {Outcome::kFinal, false, true},      // e.g. an answer too large to read
      {Outcome::kFinal, true, false},      // the portal refused it with its own error
      {Outcome::kTransient, false, true},  // e.g. a reset after sending
  };
  int id = 0;
  for (const Case& c : cases) {
    ++id;
    Job job;
    job.portal = "p.bitrix24.com";
    job.method = "crm.deal.add";
    job.idempotent = false;
    job.build = []() -> absl::StatusOr<http::HttpRequest> { return http::HttpRequest{}; };
    job.judge = [c](absl::StatusOr<http::HttpResponse>) {
      Verdict v;
      v.outcome = c.outcome;
      v.status = GatewayError(absl::StatusCode::kUnavailable, "SOMETHING", "it failed");
      v.surely_not_executed = c.surely_not_executed;
      return v;
    };
    absl::Status result;
    executor_->Submit(std::move(job), [&](absl::Status s) { result = s; });
    ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));
    auto d = GetErrorDetail(result);
    ASSERT_TRUE(d) << result;
    EXPECT_EQ(d->reason, "SOMETHING");
    EXPECT_EQ(d->metadata["may_have_executed"] == "true", c.marked) << id << ": " << result;
  }
  EXPECT_EQ(transport_.sent().size(), 3u);  // none repeated
}

TEST_F(ExecutorTest, ABlockedMethodWaitsForItsResetAndProbesOnce) {
  Make();
  int64_t reset = absl::ToUnixSeconds(clock_.Now()) + 100;
  // The portal reports the method over its budget (481 > 480).
  Submit(1);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "481 " + std::to_string(reset))));
  for (int i = 2; i < 6; ++i) Submit(i);
  Submit(10, "p.bitrix24.com", "crm.contact.list");  // other methods are not blocked
  EXPECT_EQ(transport_.sent().size(), 2u);
  EXPECT_NE(transport_.sent().back().url.find("crm.contact.list"), std::string::npos);
  clock_.Advance(absl::Seconds(100));
  EXPECT_EQ(transport_.sent().size(), 2u);
  clock_.Advance(absl::Seconds(1));  // reset_at + 1 s: one probe only
  EXPECT_EQ(transport_.sent().size(), 3u);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));  // contact.list
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "300 " + std::to_string(reset + 60))));
  EXPECT_EQ(transport_.sent().size(), 6u);
}

TEST_F(ExecutorTest, OperationTimeLimitWaitsInsteadOfPolling) {
  Make();
  Submit(1);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(429, "")));
  clock_.Advance(absl::Seconds(59));
  EXPECT_EQ(transport_.sent().size(), 1u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(transport_.sent().size(), 2u);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));
  EXPECT_TRUE(Result(1).ok());
}

TEST_F(ExecutorTest, LimitHandlingCanBeSwitchedOff) {
  ExecutorOptions o;
  o.retry.handle_query_limit_exceeded = false;
  o.retry.handle_operation_time_limit = false;
  Make(o);
  Submit(1);
  Submit(2, "p.bitrix24.com", "crm.contact.list");
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(503, "")));
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(429, "")));
  EXPECT_EQ(Result(1).message(), "QUERY_LIMIT_EXCEEDED");
  EXPECT_EQ(Result(2).message(), "OPERATION_TIME_LIMIT");
}

TEST_F(ExecutorTest, ACallbackMayRunBeforeSubmitReturns) {
  // The rule of docs/architecture.md ("Callbacks and locks"): the callback may
  // run inline, and the executor holds no lock of its own while it runs, so
  // the callback may call the executor again.
  Make();
  executor_->CancelAll(absl::UnavailableError("shutting down"));
  bool ran = false;
  Job job;
  job.portal = "p.bitrix24.com";
  job.method = "profile";
  executor_->Submit(std::move(job), [&](absl::Status s) {
    ran = true;
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(executor_->Pending(), 0);  // takes the executor's lock: not held here
  });
  EXPECT_TRUE(ran) << "ran inline, before Submit returned";
  // A build() that fails completes the job inline from the dispatching call too.
  Make();
  ran = false;
  Job failing;
  failing.portal = "p.bitrix24.com";
  failing.method = "profile";
  failing.build = []() -> absl::StatusOr<http::HttpRequest> { return absl::CancelledError("caller went away"); };
  executor_->Submit(std::move(failing), [&](absl::Status s) {
    ran = true;
    EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(executor_->InFlight(), 0);
  });
  EXPECT_TRUE(ran);
}

TEST_F(ExecutorTest, CancelAllFailsQueuedAndLaterJobs) {
  ExecutorOptions o;
  o.max_in_flight_per_portal = 1;
  Make(o);
  Submit(1);
  Submit(2);
  executor_->CancelAll(absl::UnavailableError("shutting down"));
  EXPECT_EQ(Result(2).code(), absl::StatusCode::kUnavailable);
  Submit(3);
  EXPECT_EQ(Result(3).code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(transport_.Complete(FakeTransport::Json(200, "")));
  EXPECT_TRUE(Result(1).ok());
}

}  // namespace
}  // namespace b24::exec
