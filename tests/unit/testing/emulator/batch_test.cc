#include "tests/testing/emulator/batch.h"

#include "gtest/gtest.h"

namespace b24::testing {
namespace {

using Json = php::Json;

const Json kDone = Json::parse(R"({
  "result": {"a": [{"ID": "7", "TAGS": ["x", "y"]}], "c": {"items": [{"id": 9}]}},
  "error": {"b": {"error": "", "error_description": "Not found"}},
  "total": {"a": 120}, "next": {"a": 50},
  "time": {"a": {"operating": 1.5}}})");

Json Sub(const std::string& query) {
  std::string method;
  Json params;
  SplitBatchCommand(query, &method, &params);
  SubstituteBatchReferences(&params, kDone);
  return params;
}

TEST(BatchTest, SplitsCommand) {
  std::string method;
  Json params;
  SplitBatchCommand("CRM.Deal.List?filter%5B%3EID%5D=5&select[]=ID", &method, &params);
  EXPECT_EQ(method, "crm.deal.list");
  EXPECT_EQ(params, Json::parse(R"({"filter":{">ID":"5"},"select":["ID"]})"));
  SplitBatchCommand("profile", &method, &params);
  EXPECT_EQ(method, "profile");
  EXPECT_EQ(params, Json::object());
}

TEST(BatchTest, ExactReferenceSubstitutesRawValue) {
  EXPECT_EQ(Sub("m?id=$result[a][0][ID]")["id"], "7");
  EXPECT_EQ(Sub("m?tags=$result[a][0][TAGS]")["tags"], Json::parse(R"(["x","y"])"));
  EXPECT_EQ(Sub("m?n=$next[a]")["n"], 50);
  EXPECT_EQ(Sub("m?n=$TOTAL[a]")["n"], 120);  // Case-insensitive.
  EXPECT_EQ(Sub("m?n=$time[a][operating]")["n"], 1.5);
  EXPECT_EQ(Sub("m?e=$error[b][error_description]")["e"], "Not found");
  EXPECT_EQ(Sub("m?f[%3Eid]=$result[c][items][0][id]")["f"][">id"], 9);
}

TEST(BatchTest, PathWalkStopsAtDeepestExistingValue) {
  EXPECT_EQ(Sub("m?id=$result[a][0][MISSING][x]")["id"]["ID"], "7");
  EXPECT_EQ(Sub("m?id=$result[a][5]")["id"], kDone["result"]["a"]);
}

TEST(BatchTest, EmbeddedReferenceInterpolatesScalarsOnly) {
  EXPECT_EQ(Sub("m?t=Deal+$result[a][0][ID]+of+$total[a]")["t"], "Deal 7 of 120");
  EXPECT_EQ(Sub("m?t=x$result[a][0][TAGS]")["t"], "x$result[a][0][TAGS]");
  EXPECT_EQ(Sub("m?t=$unknown[a]")["t"], "$unknown[a]");
}

}  // namespace
}  // namespace b24::testing
