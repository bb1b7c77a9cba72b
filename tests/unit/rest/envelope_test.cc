#include "service/rest/envelope.h"

#include <gtest/gtest.h>

#include "service/common/status.h"

namespace b24::rest {
namespace {

http::HttpResponse Response(int status, std::string body, std::string type = "application/json") {
  http::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = {{"content-type", type}};
  return r;
}

TEST(EnvelopeTest, DecodesSuccess) {
  auto env = ParseEnvelope(Response(200, R"({"result":[{"ID":"1"}],"total":120,"next":50,
    "time":{"start":1.5,"finish":2.0,"duration":0.5,"processing":0.25,"operating":3.5,"operating_reset_at":1700000600}})"),
                           "crm.deal.list");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->result[0]["ID"], "1");
  EXPECT_EQ(*env->total, 120);
  EXPECT_EQ(*env->next, 50);
  EXPECT_DOUBLE_EQ(env->time.operating, 3.5);
  EXPECT_EQ(env->time.operating_reset_at, 1700000600);
}

struct ErrorCase {
  int http;
  const char* code;
  absl::StatusCode grpc;
  ErrorClass cls;
};

class EnvelopeErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(EnvelopeErrorTest, MapsBitrixCodes) {
  const ErrorCase& c = GetParam();
  auto env = ParseEnvelope(Response(c.http, std::string(R"({"error":")") + c.code + R"(","error_description":"text"})"),
                           "m.x");
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().code(), c.grpc) << c.code;
  EXPECT_EQ(Classify(env.status()), c.cls) << c.code;
  auto d = GetErrorDetail(env.status());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, c.code);
  EXPECT_EQ(d->domain, "bitrix24");
  EXPECT_EQ(d->metadata["error_description"], "text");
  EXPECT_EQ(d->metadata["http_status"], std::to_string(c.http));
}

INSTANTIATE_TEST_SUITE_P(
    Catalogue, EnvelopeErrorTest,
    ::testing::Values(
        ErrorCase{401, "expired_token", absl::StatusCode::kUnauthenticated, ErrorClass::kExpiredToken},
        ErrorCase{401, "INVALID_CREDENTIALS", absl::StatusCode::kUnauthenticated, ErrorClass::kFinal},
        ErrorCase{403, "ACCESS_DENIED", absl::StatusCode::kPermissionDenied, ErrorClass::kFinal},
        ErrorCase{401, "insufficient_scope", absl::StatusCode::kPermissionDenied, ErrorClass::kFinal},
        ErrorCase{404, "ERROR_METHOD_NOT_FOUND", absl::StatusCode::kNotFound, ErrorClass::kFinal},
        ErrorCase{503, "QUERY_LIMIT_EXCEEDED", absl::StatusCode::kResourceExhausted, ErrorClass::kRateLimited},
        ErrorCase{429, "OPERATION_TIME_LIMIT", absl::StatusCode::kResourceExhausted, ErrorClass::kOperatingLimit},
        ErrorCase{500, "INTERNAL_SERVER_ERROR", absl::StatusCode::kUnavailable, ErrorClass::kTransient},
        ErrorCase{400, "ERROR_CORE", absl::StatusCode::kInternal, ErrorClass::kFinal},
        ErrorCase{400, "invalid_grant", absl::StatusCode::kFailedPrecondition, ErrorClass::kFinal},
        ErrorCase{401, "PAYMENT_REQUIRED", absl::StatusCode::kFailedPrecondition, ErrorClass::kFinal},
        ErrorCase{400, "SOME_METHOD_ERROR", absl::StatusCode::kInvalidArgument, ErrorClass::kFinal},
        ErrorCase{418, "TEAPOT", absl::StatusCode::kFailedPrecondition, ErrorClass::kFinal}));

TEST(EnvelopeTest, EmptyCodeUsesTheDescription) {
  auto env = ParseEnvelope(Response(400, R"({"error":"","error_description":"Not found"})"), "crm.deal.get");
  EXPECT_EQ(env.status().code(), absl::StatusCode::kNotFound);
}

TEST(EnvelopeTest, NonJsonAndEmptyBodiesAreUpstreamFailures) {
  auto html = ParseEnvelope(Response(502, "<html><body>Bad Gateway</body></html>", "text/html"), "profile");
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetErrorDetail(html.status())->reason, "UPSTREAM_BAD_RESPONSE");
  EXPECT_NE(html.status().message().find("HTTP 502"), std::string::npos);
  EXPECT_NE(html.status().message().find("text/html"), std::string::npos);
  EXPECT_EQ(Classify(html.status()), ErrorClass::kTransient);
  auto empty = ParseEnvelope(Response(200, ""), "profile");
  EXPECT_EQ(GetErrorDetail(empty.status())->reason, "UPSTREAM_EMPTY_RESPONSE");
  auto no_result = ParseEnvelope(Response(200, R"({"time":{}})"), "profile");
  EXPECT_EQ(no_result.status().code(), absl::StatusCode::kUnavailable);
}

TEST(EnvelopeTest, AnswersPastTheLimitsAreRefusedAndNotRetried) {
  JsonLimits limits;
  limits.max_depth = 8;
  auto deep = ParseEnvelope(Response(200, R"({"result":[[[[[[[[[1]]]]]]]]]})"), "profile", limits);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kUnavailable);
  auto d = GetErrorDetail(deep.status());
  EXPECT_EQ(d->reason, "UPSTREAM_BAD_RESPONSE");
  EXPECT_EQ(d->metadata["limit"], "http.max_json_depth");
  EXPECT_NE(deep.status().message().find("nested deeper than 8 levels"), std::string::npos);
  EXPECT_EQ(Classify(deep.status()), ErrorClass::kFinal);  // the same answer would come again
  EXPECT_TRUE(ParseEnvelope(Response(200, R"({"result":[[[[[[1]]]]]]})"), "profile", limits).ok());
}

TEST(EnvelopeTest, OnlyRenamesAreRedirects) {
  auto moved = ParseEnvelope(Response(303, R"({"error":"moved"})"), "profile");
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorDetail(moved.status())->reason, "UNEXPECTED_REDIRECT");  // not the body's "moved"
  EXPECT_EQ(Classify(moved.status()), ErrorClass::kFinal);
}

TEST(EnvelopeTest, IllFormedUtf8AndOversizedNumbersAreSafe) {
  auto env =
      ParseEnvelope(Response(403, "{\"error\":\"ACCESS_DENIED\",\"error_description\":\"bad \xff\"}"), "crm.deal.get");
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(GetErrorDetail(env.status())->metadata["error_description"], "bad \xEF\xBF\xBD");
  auto huge = ParseEnvelope(Response(200, R"({"result":[],"total":1e300,"next":-1e300,
                                        "time":{"operating_reset_at":1e300}})"),
                            "crm.deal.list");
  ASSERT_TRUE(huge.ok());
  EXPECT_FALSE(huge->total.has_value());
  EXPECT_FALSE(huge->next.has_value());
  EXPECT_EQ(huge->time.operating_reset_at, 0);
  Json big = Json::parse("18446744073709551615");
  EXPECT_FALSE(JsonInt(&big).has_value());
}

TEST(EnvelopeTest, SnippetsOfBadBodiesAreRedacted) {
  auto html =
      ParseEnvelope(Response(502, "<html>\"access_token\":\"" + std::string(200000, 'A'), "text/html"), "profile");
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.status().message().find("AAAA"), std::string::npos) << html.status().message();
  EXPECT_NE(html.status().message().find("***"), std::string::npos) << html.status().message();
}

}  // namespace
}  // namespace b24::rest
