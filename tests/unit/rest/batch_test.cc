#include "service/rest/batch.h"

#include <gtest/gtest.h>

namespace b24::rest {
namespace {

TEST(BatchReferencesTest, FindsEveryReferenceKind) {
  Json params = {{"a", "$result[x][0][ID]"},
                 {"b", {"text $next[y] and $TOTAL[z]", "$error[w][error]"}},
                 {"c", "$nothing[q]"},
                 {"d", "$result"}};
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

TEST(BatchEnvelopeTest, OnlyATrueBatchResultPasses) {
  struct Case {
    const char* result;  // the envelope's `result`
    bool halt;
    bool ok;
  };
  const Case cases[] = {
      {R"({"result": {"a": 1, "b": 2}, "result_error": []})", false, true},
      {R"({"result": {"a": 1}, "result_error": {"b": {"error": "X"}}})", false, true},
      {R"({"result": [], "result_error": {"a": {"error": "X"}}})", true, true},    // b stopped by halt
      {R"({"result": [], "result_error": {"a": {"error": "X"}}})", false, false},  // b has no outcome
      {R"({"result": {"a": 1}})", false, false},                                   // b missing
      {R"({"result": {"a": 1}})", true, false},                                    // nothing failed before b
      {R"({"ID": "1"})", false, false},                                            // not a batch result
      {R"({"result": "x"})", false, false},
      {R"({"result": {"a": 1, "b": 2}, "result_error": "x"})", false, false},
      {R"([1, 2])", false, false},
      {R"("text")", false, false},
  };
  for (const Case& c : cases) {
    absl::Status s = BatchRunner::CheckBatchEnvelope(Json::parse(c.result), {"a", "b"}, c.halt);
    EXPECT_EQ(s.ok(), c.ok) << c.result << " halt=" << c.halt << ": " << s;
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
      EXPECT_NE(s.ToString().find("UPSTREAM_BAD_RESPONSE"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace b24::rest
