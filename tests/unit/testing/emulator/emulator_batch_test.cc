// The batch method (§4): maps, references, halt, the 50-command cap.
#include "tests/unit/testing/emulator/emulator_test_base.h"

namespace b24::testing {
namespace {

class EmulatorBatchTest : public EmulatorTestBase {
 protected:
  Json Batch(const Json& body) {
    CurlResponse r = PostJson("batch", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
};

TEST_F(EmulatorBatchTest, ReferencesChainCommands) {
  Json j = Batch({{"cmd",
                   {{"page1", "crm.deal.list?start=0"},
                    {"page2", "crm.deal.list?filter[>ID]=$result[page1][49][ID]&start=-1"},
                    {"one", "crm.deal.get?id=$result[page2][0][ID]"},
                    {"title", "crm.deal.list?filter[TITLE]=Deal+$result[page1][1][ID]"},
                    {"from_next", "crm.deal.list?start=$next[page1]&select[]=ID"}}}});
  const Json& r = j["result"];
  EXPECT_EQ(r["result"]["page2"][0]["ID"], "51");
  EXPECT_EQ(r["result"]["one"]["ID"], "51");
  EXPECT_EQ(r["result"]["title"][0]["ID"], "2");
  EXPECT_EQ(r["result"]["from_next"][0], Json::parse(R"({"ID":"51"})"));
  EXPECT_EQ(r["result_error"], Json::array());
  EXPECT_EQ(r["result_total"], Json::parse(R"({"page1":1000,"page2":0,"title":1,"from_next":1000})"));
  EXPECT_EQ(r["result_next"], Json::parse(R"({"page1":50,"from_next":100})"));
  EXPECT_EQ(r["result_time"].size(), 5u);
  EXPECT_EQ(r["result_time"]["one"]["operating"], 0.0);
  EXPECT_TRUE(j["time"].contains("operating_reset_at"));
}

TEST_F(EmulatorBatchTest, ListCommandsInFormModeGiveLists) {
  // Form mode: the command strings are encoded once more (§4.1).
  std::string body = "cmd[]=" + php::UrlEncode("crm.deal.get?id=1") + "&cmd[]=" + php::UrlEncode("crm.deal.get?id=2");
  CurlResponse r = curl_.Post(hook_ + "batch", body, "application/x-www-form-urlencoded");
  ASSERT_EQ(r.status, 200) << r.body;
  Json res = r.json()["result"];
  ASSERT_TRUE(res["result"].is_array());
  EXPECT_EQ(res["result"][1]["ID"], "2");
  EXPECT_TRUE(res["result_time"].is_array());
  // A failing middle command turns both maps into objects with the PHP keys.
  Json j = Batch({{"cmd", {"crm.deal.get?id=1", "crm.deal.get?id=0", "crm.deal.get?id=3"}}});
  EXPECT_EQ(j["result"]["result"].size(), 2u);
  EXPECT_TRUE(j["result"]["result"].is_object());
  EXPECT_EQ(j["result"]["result"]["2"]["ID"], "3");
  EXPECT_EQ(j["result"]["result_error"]["1"]["error_description"], "ID is not defined or invalid.");
}

TEST_F(EmulatorBatchTest, HaltUsesPhpBoolCast) {
  Json cmd = {{"bad", "crm.deal.get?id=999999"}, {"good", "crm.deal.get?id=1"}};
  Json j = Batch({{"cmd", cmd}, {"halt", 0}});
  EXPECT_TRUE(j["result"]["result"].contains("good"));
  EXPECT_EQ(j["result"]["result_error"]["bad"], Json::parse(R"({"error":"","error_description":"Not found"})"));
  j = Batch({{"cmd", cmd}, {"halt", 1}});
  EXPECT_EQ(j["result"]["result"], Json::array());
  EXPECT_EQ(j["result"]["result_error"].size(), 1u);
  j = Batch({{"cmd", cmd}, {"halt", "false"}});  // (bool)"false" is true.
  EXPECT_EQ(j["result"]["result"], Json::array());
  j = Batch({{"cmd", cmd}, {"halt", "0"}});
  EXPECT_TRUE(j["result"]["result"].contains("good"));
}

TEST_F(EmulatorBatchTest, FiftyCommandCapAndForbiddenMethods) {
  Json cmd = Json::object();
  for (int i = 0; i < 51; ++i) cmd["c" + std::to_string(i)] = "crm.deal.get?id=" + std::to_string(i + 1);
  Json j = Batch({{"cmd", cmd}});
  EXPECT_EQ(j["result"]["result"].size(), 50u);
  EXPECT_EQ(j["result"]["result_error"], Json::parse(R"({"c50":{"error":"ERROR_BATCH_LENGTH_EXCEEDED",
                            "error_description":"Max batch length exceeded"}})"));
  j = Batch({{"cmd", {{"n", "batch?cmd[x]=profile"}, {"u", "no.such.method"}, {"ok", "profile"}, {"skipped", 42}}}});
  EXPECT_EQ(j["result"]["result_error"]["n"]["error"], "ERROR_BATCH_METHOD_NOT_ALLOWED");
  EXPECT_EQ(j["result"]["result_error"]["u"]["error"], "ERROR_METHOD_NOT_FOUND");
  EXPECT_EQ(j["result"]["result"].size(), 1u);  // Non-string commands vanish.
  EXPECT_FALSE(j["result"]["result_error"].contains("skipped"));
}

TEST_F(EmulatorBatchTest, ErrorsBeforeRunningUseTheNormalEnvelope) {
  ExpectError(curl_.PostJson(portal_.client_endpoint + "batch", Json{{"cmd", {"profile"}}}), 401, "NO_AUTH_FOUND",
              "Wrong authorization data");
  // An empty batch is fine: five empty maps.
  Json j = Batch(Json::object());
  EXPECT_EQ(j["result"], Json::parse(R"({"result":[],"result_error":[],"result_total":[],
                                         "result_next":[],"result_time":[]})"));
}

TEST_F(EmulatorBatchTest, CountsBatchAndEachSubCommand) {
  Batch({{"cmd", {"crm.deal.list", "crm.deal.get?id=1", "crm.deal.get?id=2", "nope"}}});
  const PortalStats s = emu_.Stats().portals[portal_.id];
  EXPECT_EQ(s.http_requests, 1);
  EXPECT_EQ(s.requests_by_method.at("batch"), 1);
  EXPECT_EQ(s.requests_by_method.at("crm.deal.list"), 1);
  EXPECT_EQ(s.requests_by_method.at("crm.deal.get"), 2);
  EXPECT_EQ(s.executed_by_method.at("crm.deal.get"), 2);
  EXPECT_EQ(s.executed_by_method.count("batch"), 0u);
}

}  // namespace
}  // namespace b24::testing
