// ToGrpcStatus is what every caller sees of an error: the code, the message,
// and google.rpc.Status details (ErrorInfo, RetryInfo) a client can act on.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "service/common/status.h"
#include "service/grpc/convert.h"

namespace b24::grpcapi {
namespace {

struct CodeCase {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
};

constexpr CodeCase kCodeCases[] = {
    {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
    {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
    {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
    {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
    {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
    {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
    {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
    {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
    {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
    {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
    {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
    {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
    {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
    {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
    {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
    {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
};

google::rpc::Status Details(const grpc::Status& g) {
  google::rpc::Status rich;
  EXPECT_TRUE(rich.ParseFromString(g.error_details()));
  return rich;
}

TEST(ToGrpcStatusTest, OkIsOkWithNothingAttached) {
  grpc::Status g = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(g.ok());
  EXPECT_EQ(g.error_message(), "");
  EXPECT_EQ(g.error_details(), "");
}

// Without an ErrorDetail: same code, same message, a google.rpc.Status that
// repeats them and carries no details.
TEST(ToGrpcStatusTest, EveryCodeMapsToTheSameGrpcCode) {
  for (const CodeCase& c : kCodeCases) {
    const std::string message = "what went wrong: café";
    grpc::Status g = ToGrpcStatus(absl::Status(c.absl_code, message));
    EXPECT_EQ(g.error_code(), c.grpc_code) << absl::StatusCodeToString(c.absl_code);
    EXPECT_EQ(g.error_message(), message);
    google::rpc::Status rich = Details(g);
    EXPECT_EQ(rich.code(), static_cast<int>(c.grpc_code));
    EXPECT_EQ(rich.message(), message);
    EXPECT_EQ(rich.details_size(), 0) << absl::StatusCodeToString(c.absl_code);

    // The same code with an ErrorDetail keeps code and message too.
    grpc::Status with_detail = ToGrpcStatus(ErrorWithDetail(c.absl_code, message, {"R", "bitrix24", {}}));
    EXPECT_EQ(with_detail.error_code(), c.grpc_code);
    EXPECT_EQ(with_detail.error_message(), message);
    EXPECT_EQ(Details(with_detail).details_size(), 1);
  }
}

TEST(ToGrpcStatusTest, OtherPayloadsAreNotDetails) {
  absl::Status s = absl::UnavailableError("down");
  s.SetPayload("type.example/Other", absl::Cord("x"));
  EXPECT_EQ(Details(ToGrpcStatus(s)).details_size(), 0);
}

struct DetailCase {
  const char* name;
  ErrorDetail detail;
  std::optional<int64_t> retry_seconds;  // nullopt: no RetryInfo
};

TEST(ToGrpcStatusTest, ErrorDetailBecomesErrorInfoAndRetryInfo) {
  const DetailCase cases[] = {
      {"portal error",
       {"ACCESS_DENIED", "bitrix24", {{"error_description", "Access denied!"}, {"http_status", "403"}}},
       std::nullopt},
      {"gateway error", {"HOST_NOT_ALLOWED", "bitrix24service", {}}, std::nullopt},
      {"empty detail", {"", "", {}}, std::nullopt},
      {"retry after 30 s", {"OPERATION_TIME_LIMIT", "bitrix24", {{"retry_after_seconds", "30"}}}, 30},
      {"retry after 0 s", {"QUERY_LIMIT_EXCEEDED", "bitrix24", {{"retry_after_seconds", "0"}}}, 0},
      {"retry with other metadata",
       {"OPERATION_TIME_LIMIT", "bitrix24", {{"method", "crm.deal.list"}, {"retry_after_seconds", "600"}}},
       600},
      {"retry with a plus sign", {"R", "bitrix24", {{"retry_after_seconds", "+5"}}}, 5},
      {"retry with spaces", {"R", "bitrix24", {{"retry_after_seconds", " 7 "}}}, 7},
      {"negative retry", {"R", "bitrix24", {{"retry_after_seconds", "-1"}}}, std::nullopt},
      {"fractional retry", {"R", "bitrix24", {{"retry_after_seconds", "1.5"}}}, std::nullopt},
      {"garbage retry", {"R", "bitrix24", {{"retry_after_seconds", "soon"}}}, std::nullopt},
      {"empty retry", {"R", "bitrix24", {{"retry_after_seconds", ""}}}, std::nullopt},
      {"trailing garbage retry", {"R", "bitrix24", {{"retry_after_seconds", "5s"}}}, std::nullopt},
      {"overflowing retry", {"R", "bitrix24", {{"retry_after_seconds", "99999999999999999999"}}}, std::nullopt},
      {"retry under another key", {"R", "bitrix24", {{"retry_after", "30"}}}, std::nullopt},
  };
  for (const DetailCase& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::Status g = ToGrpcStatus(ErrorWithDetail(absl::StatusCode::kResourceExhausted, "limited", c.detail));
    EXPECT_EQ(g.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(g.error_message(), "limited");
    google::rpc::Status rich = Details(g);
    EXPECT_EQ(rich.code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
    EXPECT_EQ(rich.message(), "limited");
    ASSERT_EQ(rich.details_size(), c.retry_seconds.has_value() ? 2 : 1);

    google::rpc::ErrorInfo info;
    ASSERT_TRUE(rich.details(0).UnpackTo(&info));
    EXPECT_EQ(info.reason(), c.detail.reason);
    EXPECT_EQ(info.domain(), c.detail.domain);
    std::map<std::string, std::string> metadata(info.metadata().begin(), info.metadata().end());
    EXPECT_EQ(metadata, c.detail.metadata);  // retry_after_seconds stays in the metadata too

    if (c.retry_seconds.has_value()) {
      google::rpc::RetryInfo retry;
      ASSERT_TRUE(rich.details(1).UnpackTo(&retry));
      EXPECT_EQ(retry.retry_delay().seconds(), *c.retry_seconds);
      EXPECT_EQ(retry.retry_delay().nanos(), 0);
    }
  }
}

}  // namespace
}  // namespace b24::grpcapi
