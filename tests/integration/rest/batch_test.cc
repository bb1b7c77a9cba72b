// Batch through the real request path against the emulator.
#include "service/rest/batch.h"

#include <gtest/gtest.h>

#include "service/common/status.h"
#include "tests/testing/stack.h"

namespace b24::rest {
namespace {

using testing::Fault;
using testing::Stack;

class BatchTest : public ::testing::Test {
 protected:
  BatchTest() {
    testing::PortalOptions po;
    po.seed.deals = 500;
    portal_ = stack_.AddWebhookPortal(po, &id_);
  }

  absl::StatusOr<BatchResult> Run(std::vector<BatchCommand> commands, bool halt = false) {
    std::optional<absl::StatusOr<BatchResult>> out;
    std::mutex mu;
    runner_.Run(portal_, std::move(commands), halt, absl::InfiniteFuture(), [&](absl::StatusOr<BatchResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      out = std::move(r);
    });
    EXPECT_TRUE(stack_.RunUntil([&] {
      std::lock_guard<std::mutex> lock(mu);
      return out.has_value();
    }));
    return *out;
  }

  Stack stack_;
  BatchRunner runner_{stack_.rest()};
  Portal portal_;
  int id_ = 0;
};

TEST_F(BatchTest, OneHundredTwentyCommandsTakeThreeRequests) {
  std::vector<BatchCommand> commands;
  for (int i = 1; i <= 120; ++i) commands.push_back({"d" + std::to_string(i), "crm.deal.get", {{"id", i}}});
  auto result = Run(commands);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->http_requests, 3);
  ASSERT_EQ(result->commands.size(), 120u);
  for (int i = 1; i <= 120; ++i) {
    const BatchCommandResult& c = result->commands[i - 1];
    EXPECT_EQ(c.key, "d" + std::to_string(i));
    ASSERT_EQ(c.state, BatchCommandResult::State::kOk) << c.error_code;
    EXPECT_EQ(c.result["ID"], std::to_string(i));
  }
  auto stats = stack_.emulator().Stats().portals[id_];
  EXPECT_EQ(stats.http_requests, 3);
  EXPECT_EQ(stats.requests_by_method["crm.deal.get"], 120);
}

TEST_F(BatchTest, ReferencesWithinARequestAreResolvedByThePortal) {
  auto result = Run({{"first", "crm.deal.list", {{"order", {{"ID", "ASC"}}}, {"start", -1}}},
                     {"next", "crm.deal.get", {{"id", "$result[first][0][ID]"}}},
                     {"title", "crm.deal.list", {{"filter", {{"TITLE", "$result[next][TITLE]"}}}}}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->commands[1].result["ID"], "1");
  EXPECT_EQ(result->http_requests, 1);
}

TEST_F(BatchTest, ReferencesAcrossRequestsAreRejectedBeforeSending) {
  std::vector<BatchCommand> commands;
  for (int i = 0; i < 51; ++i) commands.push_back({"c" + std::to_string(i), "crm.deal.get", {{"id", i + 1}}});
  commands.back().params = {{"id", "$result[c0][ID]"}};
  auto result = Run(commands);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("50 per request"), std::string::npos) << result.status();
  EXPECT_EQ(stack_.emulator().Stats().portals[id_].http_requests, 0);
}

TEST_F(BatchTest, ACommandHitByTheOperatingLimitIsRetriedAlone) {
  stack_.emulator().InjectFault(
      id_, Fault::JsonError(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.",
                            "crm.deal.update"));
  auto result = Run({{"a", "crm.deal.get", {{"id", 1}}},
                     {"b", "crm.deal.update", {{"id", 2}, {"fields", {{"TITLE", "renamed"}}}}},
                     {"c", "crm.deal.get", {{"id", 3}}}});
  ASSERT_TRUE(result.ok()) << result.status();
  for (const auto& c : result->commands) EXPECT_EQ(c.state, BatchCommandResult::State::kOk) << c.key << c.error_code;
  EXPECT_EQ(result->http_requests, 2);  // the batch, then `b` alone
  auto stats = stack_.emulator().Stats().portals[id_];
  EXPECT_EQ(stats.executed_by_method["crm.deal.get"], 2);  // a and c were not repeated
  EXPECT_EQ(stats.executed_by_method["crm.deal.update"], 1);
}

TEST_F(BatchTest, HaltStopsAtTheFirstError) {
  auto result = Run({{"a", "crm.deal.get", {{"id", 1}}},
                     {"missing", "crm.deal.get", {{"id", 999999}}},
                     {"c", "crm.deal.get", {{"id", 3}}}},
                    /*halt=*/true);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->commands[0].state, BatchCommandResult::State::kOk);
  EXPECT_EQ(result->commands[1].state, BatchCommandResult::State::kError);
  EXPECT_FALSE(result->commands[1].error_description.empty());
  EXPECT_EQ(result->commands[2].state, BatchCommandResult::State::kNotExecuted);
}

TEST_F(BatchTest, NumericKeysOfAnyLengthAreJustKeys) {
  auto result = Run({{"123456789012345678901234567890", "crm.deal.get", {{"id", 1}}},
                     {"7", "crm.deal.get", {{"id", "$result[123456789012345678901234567890][ID]"}}}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->commands[1].state, BatchCommandResult::State::kOk);
  EXPECT_EQ(result->commands[1].result["ID"], "1");
}

TEST_F(BatchTest, InvalidCommandsAreNamed) {
  EXPECT_NE(Run({{"a", "crm.deal.get", {}}, {"a", "crm.deal.get", {}}}).status().message().find("used twice"),
            std::string::npos);
  EXPECT_NE(Run({{"x", "batch", {}}}).status().message().find("nested"), std::string::npos);
  EXPECT_NE(Run({{"bad key", "profile", {}}}).status().message().find("letters"), std::string::npos);
  EXPECT_EQ(Run({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace b24::rest
