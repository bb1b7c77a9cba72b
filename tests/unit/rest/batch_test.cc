#include "service/rest/batch.h"

#include <gtest/gtest.h>

namespace b24::rest {
namespace {

TEST(BatchReferencesTest, FindsEveryReferenceKind) {
  Json params = {{"a", "$result[x][0][ID]"}, {"b", {"text $next[y] and $TOTAL[z]", "$error[w][error]"}},
                 {"c", "$nothing[q]"}, {"d", "$result"}};
  EXPECT_EQ(BatchRunner::References(params), (std::vector<std::string>{"x", "y", "z", "w"}));
}

TEST(BatchReferencesTest, LongValuesAreScannedWithoutRecursion) {
  std::string huge = "$result[" + std::string(4 << 20, 'a');  // 4 MiB, never closed
  EXPECT_TRUE(BatchRunner::References(Json{{"v", huge}}).empty());
  std::vector<BatchCommand> commands = {{"a", "profile", Json::object()}, {"b", "profile", {{"v", huge + "]"}}}};
  EXPECT_EQ(BatchRunner::Validate(commands).code(), absl::StatusCode::kInvalidArgument);  // unknown key "aaa…"
}

TEST(BatchResultTest, ParsesPhpListsAndObjects) {
  Json result = Json::parse(R"({"result": [{"ID": "1"}, {"ID": "2"}], "result_error": [],
                                "result_total": {"1": 9}, "result_next": [], "result_time": []})");
  auto parsed = BatchRunner::ParseBatchResult(result, {"0", "1", "99999999999999999999999"});
  EXPECT_EQ(parsed[0].result["ID"], "1");
  EXPECT_EQ(*parsed[1].total, 9);
  EXPECT_EQ(parsed[2].state, BatchCommandResult::State::kNotExecuted);
  Json garbage = Json::parse(R"({"result_error": {"a": {"error": null, "error_description": 5}}})");
  auto bad = BatchRunner::ParseBatchResult(garbage, {"a"});
  EXPECT_EQ(bad[0].state, BatchCommandResult::State::kError);
}

}  // namespace
}  // namespace b24::rest
