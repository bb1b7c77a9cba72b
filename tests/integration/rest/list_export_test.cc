// GetAll's export through the real request path against the emulator.
#include "service/rest/list_export.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/testing/stack.h"

namespace b24::rest {
namespace {

using testing::Stack;

struct Collected {
  std::vector<int64_t> ids;
  std::vector<std::string> cursors;
  absl::Status status;
  int http_requests = 0;
};

class ListExportTest : public ::testing::Test {
 protected:
  void SetUpPortal(int64_t deals, int64_t items = 0, int64_t tasks = 0) {
    testing::PortalOptions po;
    po.seed.deals = deals;
    po.seed.crm_items = items;
    po.seed.tasks = tasks;
    portal_ = stack_.AddWebhookPortal(po, &id_);
  }

  // Runs an export to the end (or until `stop_after` items), taking every chunk.
  Collected Export(ExportRequest request, const std::string& id_key = "ID", int64_t stop_after = 0) {
    Collected out;
    // Polled, so nothing to notify (a callback may outlive this function).
    auto e =
        ListExport::Start(stack_.rest(), stack_.cursors(), portal_, std::move(request), absl::InfiniteFuture(), [] {});
    bool done = false;
    stack_.RunUntil([&] {
      ExportChunk chunk;
      for (;;) {
        switch (e->Next(&chunk)) {
          case ListExport::Poll::kChunk:
            for (const Json& item : chunk.items) {
              const Json& id = item[id_key];
              out.ids.push_back(id.is_string() ? std::stoll(id.get<std::string>()) : id.get<int64_t>());
            }
            out.cursors.push_back(chunk.cursor);
            if (stop_after > 0 && static_cast<int64_t>(out.ids.size()) >= stop_after) {
              e->Cancel();
              done = true;
              return true;
            }
            continue;
          case ListExport::Poll::kDone:
            done = true;
            return true;
          case ListExport::Poll::kWait:
            return false;
        }
      }
    });
    EXPECT_TRUE(done);
    out.status = e->status();
    out.http_requests = e->http_requests();
    return out;
  }

  static void ExpectExactly(std::vector<int64_t> ids, int64_t from, int64_t to) {
    std::sort(ids.begin(), ids.end());
    ASSERT_EQ(ids.size(), static_cast<size_t>(to - from + 1));
    for (int64_t i = from; i <= to; ++i) ASSERT_EQ(ids[i - from], i);
  }

  Stack stack_;
  Portal portal_;
  int id_ = 0;
};

TEST_F(ListExportTest, OneHundredThousandDealsExactlyOnceInFewRequests) {
  SetUpPortal(100'000);
  Collected c = Export({"crm.deal.list", {{"select", {"ID", "TITLE"}}}});
  ASSERT_TRUE(c.status.ok()) << c.status;
  ExpectExactly(c.ids, 1, 100'000);
  int64_t requests = stack_.emulator().Stats().portals[id_].http_requests;
  EXPECT_LE(requests, (100'000 + 2499) / 2500 + 2);
  EXPECT_EQ(requests, c.http_requests);
  EXPECT_EQ(stack_.emulator().Stats().portals[id_].query_limit_exceeded, 0);
}

TEST_F(ListExportTest, SequentialExportKeepsIdOrder) {
  SetUpPortal(6'000);
  Collected c = Export({"crm.deal.list", Json::object(), 0, "", /*max_parallel_ranges=*/1});
  ASSERT_TRUE(c.status.ok()) << c.status;
  ASSERT_EQ(c.ids.size(), 6'000u);
  EXPECT_TRUE(std::is_sorted(c.ids.begin(), c.ids.end()));
  EXPECT_LE(c.http_requests, 6'000 / 2500 + 2);
}

TEST_F(ListExportTest, TheCallersFilterAndBoundsAreKept) {
  SetUpPortal(20'000);
  Collected c = Export({"crm.deal.list", {{"filter", {{">=ID", 1001}, {"<ID", 15001}}}}});
  ASSERT_TRUE(c.status.ok()) << c.status;
  ExpectExactly(c.ids, 1001, 15000);
}

TEST_F(ListExportTest, NestedResultsAreUnwrapped) {
  SetUpPortal(0, 3'000, 2'600);
  Collected items = Export({"crm.item.list", {{"entityTypeId", 2}}}, "id");
  ASSERT_TRUE(items.status.ok()) << items.status;
  ExpectExactly(items.ids, 1, 3'000);
  Collected tasks = Export({"tasks.task.list", Json::object()}, "id");
  ASSERT_TRUE(tasks.status.ok()) << tasks.status;
  ExpectExactly(tasks.ids, 1, 2'600);
}

TEST_F(ListExportTest, OrderByAnotherFieldFallsBackToOffsetPaging) {
  SetUpPortal(3'210);
  Collected c = Export({"crm.deal.list", {{"order", {{"TITLE", "DESC"}}}}});
  ASSERT_TRUE(c.status.ok()) << c.status;
  ExpectExactly(c.ids, 1, 3'210);
  // one page for the total, then 50 pages a batch
  EXPECT_EQ(c.http_requests, 1 + (3'210 - 50 + 2499) / 2500);
}

TEST_F(ListExportTest, LimitStopsEarly) {
  SetUpPortal(10'000);
  Collected c = Export({"crm.deal.list", Json::object(), 1'234});
  ASSERT_TRUE(c.status.ok()) << c.status;
  ExpectExactly(c.ids, 1, 1'234);
  EXPECT_EQ(c.http_requests, 1);
}

TEST_F(ListExportTest, ALimitedExportsCursorResumesAtTheFirstItemNotSent) {
  SetUpPortal(5'000);
  Collected first = Export({"crm.deal.list", Json::object(), 1'234});
  ASSERT_EQ(first.ids.size(), 1'234u);
  Collected rest = Export({"crm.deal.list", Json::object(), 0, first.cursors.back()});
  ASSERT_TRUE(rest.status.ok()) << rest.status;
  std::vector<int64_t> all = first.ids;
  all.insert(all.end(), rest.ids.begin(), rest.ids.end());
  ExpectExactly(all, 1, 5'000);
  // The same with offset paging.
  Collected by_title = Export({"crm.deal.list", {{"order", {{"TITLE", "ASC"}}}}, 777});
  ASSERT_EQ(by_title.ids.size(), 777u);
  Collected by_title_rest = Export({"crm.deal.list", {{"order", {{"TITLE", "ASC"}}}}, 0, by_title.cursors.back()});
  std::vector<int64_t> titles = by_title.ids;
  titles.insert(titles.end(), by_title_rest.ids.begin(), by_title_rest.ids.end());
  ExpectExactly(titles, 1, 5'000);
}

TEST_F(ListExportTest, ACursorResumesWithoutLossOrRepeats) {
  SetUpPortal(30'000);
  Collected first = Export({"crm.deal.list", Json::object()}, "ID", 10'000);
  ASSERT_GE(first.ids.size(), 10'000u);
  Collected rest = Export({"crm.deal.list", Json::object(), 0, first.cursors.back()});
  ASSERT_TRUE(rest.status.ok()) << rest.status;
  std::vector<int64_t> all = first.ids;
  all.insert(all.end(), rest.ids.begin(), rest.ids.end());
  ExpectExactly(all, 1, 30'000);
}

TEST_F(ListExportTest, ASlowConsumerHoldsTheExportBack) {
  SetUpPortal(50'000);
  auto e = ListExport::Start(stack_.rest(), stack_.cursors(), portal_, {"crm.deal.list", Json::object()},
                             absl::InfiniteFuture(), [] {});
  // Nobody takes chunks: the probe and one request per range fill the
  // buffer (ranges + 1 chunks), then nothing more is sent.
  auto requests = [&] { return stack_.emulator().Stats().portals[id_].http_requests; };
  ASSERT_TRUE(stack_.RunUntil([&] { return requests() >= 3 && stack_.executor().InFlight() == 0; }));
  int64_t filled = requests();
  EXPECT_LE(filled, 5);
  EXPECT_FALSE(stack_.RunUntil([&] { return requests() > filled; }, absl::Milliseconds(300)));
  // Taking one chunk frees one slot: exactly one more request.
  ExportChunk chunk;
  ASSERT_EQ(e->Next(&chunk), ListExport::Poll::kChunk);
  EXPECT_TRUE(stack_.RunUntil([&] { return requests() == filled + 1 && stack_.executor().InFlight() == 0; }));
  EXPECT_FALSE(stack_.RunUntil([&] { return requests() > filled + 1; }, absl::Milliseconds(300)));
  e->Cancel();
}

TEST(ListExportCancelTest, ACancelledExportSendsNothingMore) {
  exec::ExecutorOptions eo;
  eo.max_in_flight_per_portal = 1;  // the ranges' requests wait in the executor's queue
  Stack stack(eo);
  int id;
  testing::PortalOptions po;
  po.seed.deals = 100'000;
  Portal portal = stack.AddWebhookPortal(po, &id);
  auto ready = std::make_shared<std::atomic<int>>(0);  // may be notified after the test body
  auto e = ListExport::Start(stack.rest(), stack.cursors(), portal, {"crm.deal.list", Json::object()},
                             absl::InfiniteFuture(), [ready] { ++*ready; });
  auto requests = [&] { return stack.emulator().Stats().portals[id].http_requests; };
  ASSERT_TRUE(stack.RunUntil([&] { return *ready > 0 && stack.executor().InFlight() == 1; }));
  e->Cancel();
  EXPECT_TRUE(stack.RunUntil([&] { return stack.executor().Pending() == 0; }));
  // The probe, and at most the one request already dispatched; the other ranges' never go out.
  EXPECT_LE(requests(), 2);
}

TEST_F(ListExportTest, OnReadyMayRunInsideStart) {
  // docs/architecture.md, "Callbacks and locks": an export that fails at once
  // notifies from inside Start(), with no lock of its own held, so the
  // consumer may call Next() from the notification.
  SetUpPortal(10);
  int notified = 0;
  auto e = ListExport::Start(stack_.rest(), stack_.cursors(), portal_, {"crm.deal.list", {{"start", 5}}},
                             absl::InfiniteFuture(), [&] { ++notified; });
  EXPECT_EQ(notified, 1) << "notified before Start returned";
  ExportChunk chunk;
  EXPECT_EQ(e->Next(&chunk), ListExport::Poll::kDone);
  EXPECT_EQ(e->status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ListExportTest, BadRequestsAreRefused) {
  SetUpPortal(10);
  EXPECT_EQ(Export({"crm.deal.list", {{"start", 50}}}).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Export({"crm.deal.list", Json::object(), 0, "not a cursor"}).status.code(),
            absl::StatusCode::kInvalidArgument);
  for (const char* forged : {R"({"v":"1"})", R"({"v":1,"n":0,"m":"k","r":[["a","b"]]})", R"({"v":1,"n":"x","m":"k"})",
                             R"({"v":1,"n":0,"m":"k","r":5})", R"([1,2])"}) {
    EXPECT_EQ(Export({"crm.deal.list", Json::object(), 0, forged}).status.code(), absl::StatusCode::kInvalidArgument)
        << forged;
  }
  EXPECT_EQ(Export({"profile", Json::object()}).status.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace b24::rest
