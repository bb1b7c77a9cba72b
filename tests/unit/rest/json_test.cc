#include "service/rest/json.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace b24::rest {
namespace {

std::string Nested(size_t depth, char open, char close, const char* inner = "1") {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += open == '{' ? std::string("{\"a\":") : std::string(1, open);
  s += inner;
  for (size_t i = 0; i < depth; ++i) s += close;
  return s;
}

TEST(UntrustedJsonTest, ParsesAndKeepsKeyOrder) {
  JsonParse p = ParseUntrustedJson(R"({"z":1,"a":[true,null,"s",1.5,-2,18446744073709551615],"m":{}})");
  ASSERT_TRUE(p.ok()) << p.message;
  EXPECT_EQ(p.value.dump(), R"({"z":1,"a":[true,null,"s",1.5,-2,18446744073709551615],"m":{}})");
}

TEST(UntrustedJsonTest, DepthIsLimited) {
  JsonLimits limits;
  limits.max_depth = 64;
  EXPECT_TRUE(ParseUntrustedJson(Nested(64, '[', ']'), limits).ok());
  for (auto [open, close] : {std::pair{'[', ']'}, std::pair{'{', '}'}}) {
    JsonParse deep = ParseUntrustedJson(Nested(65, open, close), limits);
    EXPECT_EQ(deep.error, JsonError::kTooDeep);
    EXPECT_EQ(deep.message, "nested deeper than 64 levels");
    // The 100,000 levels that crashed the gateway: refused, no recursion.
    EXPECT_EQ(ParseUntrustedJson(Nested(100'000, open, close), limits).error, JsonError::kTooDeep);
  }
  // Unclosed, so no parser ever sees the end.
  EXPECT_EQ(ParseUntrustedJson(std::string(1'000'000, '['), limits).error, JsonError::kTooDeep);
}

TEST(UntrustedJsonTest, ValueCountIsLimited) {
  JsonLimits limits;
  limits.max_values = 1000;
  std::string many = "[";
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&many, i ? "," : "", "[]");
  many += "]";
  JsonParse p = ParseUntrustedJson(many, limits);
  EXPECT_EQ(p.error, JsonError::kTooManyValues);  // 1001 values with the outer array
  limits.max_values = 1001;
  EXPECT_TRUE(ParseUntrustedJson(many, limits).ok());
}

TEST(UntrustedJsonTest, ManyKeysAreLinearAndTheLastDuplicateWins) {
  std::string body = "{";
  for (int i = 0; i < 100'000; ++i) absl::StrAppend(&body, i ? "," : "", "\"k", i, "\":", i);
  absl::StrAppend(&body, ",\"k5\":\"again\",\"k99999\":-1}");
  JsonParse p = ParseUntrustedJson(body);
  ASSERT_TRUE(p.ok()) << p.message;
  EXPECT_EQ(p.value.size(), 100'000u);
  EXPECT_EQ(p.value["k5"], "again");
  EXPECT_EQ(p.value["k99999"], -1);
  EXPECT_EQ(p.value.begin().key(), "k0");  // first-seen order kept
  // Small objects (no index) behave the same.
  JsonParse small = ParseUntrustedJson(R"({"a":1,"b":2,"a":3})");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small.value.dump(), R"({"a":3,"b":2})");
}

TEST(UntrustedJsonTest, IllFormedUtf8IsRepairedNotRefused) {
  JsonParse p = ParseUntrustedJson("{\"TITLE\":\"x\xffy\"}");
  ASSERT_TRUE(p.ok()) << p.message;
  EXPECT_EQ(p.value["TITLE"], "x\xEF\xBF\xBDy");
}

TEST(UntrustedJsonTest, SyntaxErrorsSayWhere) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "<html>", "{\"a\":1} trailing", "\"\\ud800\""}) {
    JsonParse p = ParseUntrustedJson(bad);
    EXPECT_EQ(p.error, JsonError::kSyntax) << bad;
    EXPECT_NE(p.message.find("not valid JSON"), std::string::npos) << p.message;
  }
}

TEST(UntrustedJsonTest, DepthOfBuiltValues) {
  EXPECT_EQ(JsonDepth(Json(1)), 0u);
  EXPECT_EQ(JsonDepth(Json::array()), 1u);
  EXPECT_EQ(JsonDepth(ParseUntrustedJson(Nested(50, '{', '}')).value), 50u);
}

}  // namespace
}  // namespace b24::rest
