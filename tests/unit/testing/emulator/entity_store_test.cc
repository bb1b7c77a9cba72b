#include "tests/testing/emulator/entity_store.h"

#include "gtest/gtest.h"

namespace b24::testing {
namespace {

using Json = php::Json;

EntityStore Store(int64_t n) {
  return EntityStore(n, "ID", [](int64_t id) {
    return Json{{"ID", std::to_string(id)}, {"TITLE", "T" + std::to_string(id)}, {"STAGE_ID", id % 2 ? "ODD" : "EVEN"}};
  });
}

std::vector<int64_t> Ids(const EntityStore::ListPage& page) {
  std::vector<int64_t> ids;
  for (const auto& row : page.rows) ids.push_back(php::ToInt(row["ID"]));
  return ids;
}

EntityStore::ListQuery Query(const char* filter, const char* order, int64_t start) {
  EntityStore::ListQuery q;
  q.filter = Json::parse(filter);
  q.order = Json::parse(order);
  q.start = start;
  q.page_size = 3;
  return q;
}

TEST(EntityStoreTest, OffsetPagingCountsAndSkipsDeletedRows) {
  EntityStore s = Store(10);
  ASSERT_TRUE(s.Erase(2));
  ASSERT_TRUE(s.Erase(3));
  EXPECT_FALSE(s.Erase(3));
  EntityStore::ListPage p = s.List(Query("{}", "{}", 0));
  EXPECT_EQ(Ids(p), (std::vector<int64_t>{1, 4, 5}));
  EXPECT_EQ(p.total, 8);
  EXPECT_EQ(p.next, 3);
  p = s.List(Query("{}", "{}", 6));
  EXPECT_EQ(Ids(p), (std::vector<int64_t>{9, 10}));
  EXPECT_FALSE(p.next.has_value());
}

TEST(EntityStoreTest, DescendingOrderIncludesAddedRows) {
  EntityStore s = Store(5);
  int64_t id = s.AllocateId();
  EXPECT_EQ(id, 6);
  s.Put(id, Json{{"ID", "6"}, {"TITLE", "new"}});
  s.Erase(5);
  EntityStore::ListPage p = s.List(Query("{}", R"({"ID":"DESC"})", 0));
  EXPECT_EQ(Ids(p), (std::vector<int64_t>{6, 4, 3}));
  EXPECT_EQ(p.total, 5);
  p = s.List(Query("{}", R"({"id":"desc"})", 3));
  EXPECT_EQ(Ids(p), (std::vector<int64_t>{2, 1}));
}

TEST(EntityStoreTest, NegativeStartHasNoCountAndNoNext) {
  EntityStore s = Store(100);
  EntityStore::ListPage p = s.List(Query(R"({">ID":"10"})", "{}", -1));
  EXPECT_EQ(Ids(p), (std::vector<int64_t>{11, 12, 13}));
  EXPECT_EQ(p.total, 0);
  EXPECT_FALSE(p.next.has_value());
}

TEST(EntityStoreTest, IdFiltersAndScannedFilters) {
  EntityStore s = Store(100);
  EXPECT_EQ(s.List(Query(R"({">=ID":5,"<ID":"8"})", "{}", 0)).total, 3);
  EXPECT_EQ(Ids(s.List(Query(R"({"@ID":["7","3","500"]})", "{}", 0))), (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(Ids(s.List(Query(R"({"=ID":["7","3"]})", R"({"ID":"DESC"})", 0))), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(Ids(s.List(Query(R"({"ID":42})", "{}", 0))), (std::vector<int64_t>{42}));
  EntityStore::ListPage p = s.List(Query(R"({"STAGE_ID":"EVEN","<=ID":10})", "{}", 0));
  EXPECT_EQ(Ids(p), (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(p.total, 5);
  EXPECT_EQ(p.next, 3);
  EXPECT_EQ(s.List(Query(R"({"!STAGE_ID":"EVEN","<=ID":10})", "{}", 0)).total, 5);
  EXPECT_EQ(s.List(Query(R"({"%TITLE":"t9"})", "{}", 0)).total, 11);  // 9, 90..99
}

TEST(EntityStoreTest, SelectKeepsIdAndRequestedFields) {
  EntityStore s = Store(3);
  EntityStore::ListQuery q;
  q.select = Json::parse(R"(["TITLE"])");
  EXPECT_EQ(s.List(q).rows[0], Json::parse(R"({"ID":"1","TITLE":"T1"})"));
  q.select = Json::parse(R"(["*"])");
  EXPECT_EQ(s.List(q).rows[0].size(), 3u);
}

TEST(EntityStoreTest, MillionRowsDeepOffsetIsCheap) {
  EntityStore s = Store(1'000'000);
  for (int64_t id = 10; id < 20; ++id) s.Erase(id);
  EntityStore::ListQuery q;
  q.start = 999'950;
  EntityStore::ListPage p = s.List(q);
  EXPECT_EQ(p.total, 999'990);
  ASSERT_EQ(p.rows.size(), 40u);
  EXPECT_EQ(p.rows[0]["ID"], "999961");
  EXPECT_FALSE(p.next.has_value());
}

}  // namespace
}  // namespace b24::testing
