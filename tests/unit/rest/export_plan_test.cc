#include "service/rest/export_plan.h"

#include <gtest/gtest.h>

#include "service/common/status.h"

namespace b24::rest {
namespace {

Json Items(int64_t from, int64_t count, int64_t step = 1) {
  Json list = Json::array();
  for (int64_t i = 0; i < count; ++i) list.push_back({{"ID", std::to_string(from + i * step)}});
  return list;
}

BatchCommandResult Page(Json list) {
  BatchCommandResult r;
  r.state = BatchCommandResult::State::kOk;
  r.result = std::move(list);
  return r;
}

BatchCommandResult Refused(const std::string& code) {
  BatchCommandResult r;
  r.state = BatchCommandResult::State::kError;
  r.error_code = code;
  return r;
}

TEST(ExportPlanTest, ShapesAndReferencesFollowThePageSize) {
  EXPECT_EQ(ListShape::For("crm.deal.list").LastIdReference("p3"), "$result[p3][49][ID]");
  EXPECT_EQ(ListShape::For("crm.item.list").LastIdReference("p0"), "$result[p0][items][49][id]");
  EXPECT_EQ(ListShape::For("TASKS.TASK.LIST").LastIdReference("p1", 10), "$result[p1][tasks][9][id]");
  EXPECT_EQ(ListShape::For("tasks.task.list").id_query, "ID");
}

TEST(ExportPlanTest, RangePlanning) {
  struct Case {
    size_t first_page_items;
    int64_t first_last, max_id, hi;
    int max_parallel;
    std::vector<std::pair<int64_t, int64_t>> ranges;
  };
  const Case cases[] = {
      {12, 12, 12, -1, 0, {}},                  // the first page was the whole list
      {50, 50, 40, -1, 0, {{50, -1}}},          // the highest ID vanished: one open range
      {50, 50, 10'050, -1, 0, {{50, 10'050}}},  // below kMinRangeSpan: one range
      {50, 50, 100'050, -1, 0, {{50, 25'050}, {25'050, 50'050}, {50'050, 75'050}, {75'050, 100'050}}},
      {50, 50, 100'050, -1, 2, {{50, 50'050}, {50'050, 100'050}}},
      {50, 50, 10'000'050, -1, 99, {}},  // capped at kMaxRanges (checked below)
  };
  for (const Case& c : cases) {
    auto got = PlanRanges(c.first_page_items, c.first_last, c.max_id, c.hi, c.max_parallel);
    if (c.max_parallel == 99) {
      ASSERT_EQ(got.size(), static_cast<size_t>(kMaxRanges));
      EXPECT_EQ(got.front().last, 50);
      EXPECT_EQ(got.back().hi, 10'000'050);
      for (size_t i = 1; i < got.size(); ++i) EXPECT_EQ(got[i].last, got[i - 1].hi);  // no gap, no overlap
      continue;
    }
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (const IdRange& r : got) pairs.emplace_back(r.last, r.hi);
    EXPECT_EQ(pairs, c.ranges) << c.max_id;
  }
}

TEST(ExportPlanTest, PagesPerBatch) {
  EXPECT_EQ(PagesForBatch({0, -1}, INT64_MAX), kPagesPerBatch);
  EXPECT_EQ(PagesForBatch({0, 120}, INT64_MAX), 3);    // 120 IDs: three pages at most
  EXPECT_EQ(PagesForBatch({0, 100'000}, 60), 2);       // the caller wants 60 more
  EXPECT_EQ(PagesForBatch({100, 100}, INT64_MAX), 1);  // never zero
  EXPECT_EQ(PagesForBatch({0, 51}, INT64_MAX), 2);     // offsets [0, 51): two pages
}

TEST(ExportPlanTest, KeysetParamsReplaceOrderAndBounds) {
  Json base = {{"select", {"ID"}}, {"filter", {{"STAGE_ID", "WON"}}}};
  Json p = KeysetPageParams(base, ListShape::For("crm.deal.list"), Json("$result[p0][49][ID]"), 500);
  EXPECT_EQ(
      p.dump(),
      R"({"select":["ID"],"filter":{"STAGE_ID":"WON",">ID":"$result[p0][49][ID]","<=ID":500},"order":{"ID":"ASC"},"start":-1})");
}

TEST(ExportPlanTest, ScanningPages) {
  ListShape deals = ListShape::For("crm.deal.list");
  // Full pages, then a short one: all delivered, the range is done.
  KeysetScan all =
      ScanKeysetPages(deals, "crm.deal.list", {Page(Items(1, 50)), Page(Items(51, 7))}, {0, -1}, INT64_MAX);
  EXPECT_TRUE(all.error.ok());
  EXPECT_EQ(all.items.size(), 57u);
  EXPECT_EQ(all.last, 57);
  EXPECT_TRUE(all.range_done);
  // Every page full: the range goes on after the last ID.
  KeysetScan more = ScanKeysetPages(deals, "m", {Page(Items(1, 50)), Page(Items(51, 50))}, {0, -1}, INT64_MAX);
  EXPECT_FALSE(more.range_done);
  EXPECT_EQ(more.last, 100);
  // The range's upper bound ends it.
  KeysetScan bounded = ScanKeysetPages(deals, "m", {Page(Items(1, 50))}, {0, 30}, INT64_MAX);
  EXPECT_EQ(bounded.items.size(), 30u);
  EXPECT_TRUE(bounded.range_done);
  // The caller's limit: no more than `room`, and the range resumes after what was kept.
  KeysetScan limited = ScanKeysetPages(deals, "m", {Page(Items(1, 50))}, {0, -1}, 20);
  EXPECT_EQ(limited.items.size(), 20u);
  EXPECT_EQ(limited.last, 20);
  EXPECT_FALSE(limited.range_done);
  // A limit refusal inside the batch: keep what came before, no error, resume later.
  KeysetScan refused = ScanKeysetPages(
      deals, "m", {Page(Items(1, 50)), Refused("OPERATION_TIME_LIMIT"), Page(Items(101, 50))}, {0, -1}, INT64_MAX);
  EXPECT_TRUE(refused.error.ok());
  EXPECT_EQ(refused.last, 50);
  EXPECT_FALSE(refused.range_done);
  // Another error fails the export.
  KeysetScan denied = ScanKeysetPages(deals, "m", {Refused("ACCESS_DENIED")}, {0, -1}, INT64_MAX);
  EXPECT_EQ(denied.error.code(), absl::StatusCode::kPermissionDenied);
  // Out of order after some good items: stop there, no error.
  Json shuffled = Items(1, 10);
  shuffled.push_back({{"ID", "5"}});
  KeysetScan partial = ScanKeysetPages(deals, "m", {Page(shuffled)}, {0, -1}, INT64_MAX);
  EXPECT_TRUE(partial.error.ok());
  EXPECT_EQ(partial.last, 10);
  // Nothing in order at all: an error, not an endless loop.
  KeysetScan broken = ScanKeysetPages(deals, "m", {Page(Items(5, 3, -1))}, {10, -1}, INT64_MAX);
  EXPECT_EQ(broken.error.code(), absl::StatusCode::kInternal);
  // Not a list.
  KeysetScan odd = ScanKeysetPages(deals, "m", {Page(Json{{"ID", "1"}})}, {0, -1}, INT64_MAX);
  EXPECT_EQ(GetErrorDetail(odd.error)->reason, "INVALID_EXPORT");
  // Nested shapes.
  Json nested = {{"items", Json::array({Json{{"id", 7}}})}};
  KeysetScan items =
      ScanKeysetPages(ListShape::For("crm.item.list"), "crm.item.list", {Page(nested)}, {0, -1}, INT64_MAX);
  EXPECT_EQ(items.last, 7);
  EXPECT_TRUE(items.range_done);
}

}  // namespace
}  // namespace b24::rest
