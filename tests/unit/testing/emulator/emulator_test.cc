// Envelope, routes, auth errors, paging, filter/order/select, CRUD, the other
// methods, rename and counters of the emulated portal.
#include "tests/testing/emulator/emulator.h"

#include "tests/unit/testing/emulator/emulator_test_base.h"

namespace b24::testing {
namespace {

class EmulatorTest : public EmulatorTestBase {};

std::vector<std::string> Keys(const Json& j) {
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  return keys;
}

TEST_F(EmulatorTest, SuccessEnvelopeWithTime) {
  CurlResponse r = Get("crm.deal.list");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json; charset=utf-8");
  Json j = r.json();
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"result", "next", "total", "time"}));
  ASSERT_EQ(j["result"].size(), 50u);
  EXPECT_EQ(j["result"][0]["ID"], "1");
  EXPECT_EQ(j["result"][0]["TITLE"], "Deal 1");
  EXPECT_EQ(j["result"][0]["CURRENCY_ID"], "USD");
  EXPECT_EQ(j["next"], 50);
  EXPECT_EQ(j["total"], 1000);
  const Json& t = j["time"];
  EXPECT_EQ(Keys(t), (std::vector<std::string>{"start", "finish", "duration", "processing", "date_start", "date_finish",
                                               "operating", "operating_reset_at"}));
  EXPECT_EQ(t["start"], 1700000000.0);
  EXPECT_EQ(t["date_start"], "2023-11-14T22:13:20+00:00");
  EXPECT_EQ(t["duration"], 0.0);  // Default cost model: free.
  EXPECT_EQ(t["operating"], 0.0);
  EXPECT_EQ(t["operating_reset_at"], 1700000600);
}

TEST_F(EmulatorTest, RoutesSuffixesAndCase) {
  std::string base = portal_.client_endpoint;
  for (const char* path :
       {"1/hookcode/crm.deal.get.json?id=3", "1/hookcode/CRM.Deal.Get/?id=3", "1/hookcode/crm.deal.get/?ID=3"}) {
    CurlResponse r = curl_.Get(base + path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.json()["result"]["ID"], "3") << path;
  }
}

TEST_F(EmulatorTest, AuthErrorsInServerOrder) {
  std::string base = portal_.client_endpoint;
  // Unknown methods fail before authentication.
  ExpectError(curl_.Get(base + "9/wrong/no.such.method"), 404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
  ExpectError(curl_.Get(base + "no.such.method"), 404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
  ExpectError(curl_.Get(base + "1/wrong/profile"), 401, "INVALID_CREDENTIALS", "Invalid request credentials");
  ExpectError(curl_.Get(base + "2/hookcode/profile"), 401, "INVALID_CREDENTIALS", "Invalid request credentials");
  ExpectError(curl_.Get(base + "profile"), 401, "NO_AUTH_FOUND", "Wrong authorization data");
  ExpectError(curl_.Get(base + "profile?auth=nope"), 401, "invalid_token", "Unable to get application by token");
  ExpectError(curl_.Get(base + "profile", {"Authorization: Bearer nope"}), 401, "invalid_token",
              "Unable to get application by token");
}

TEST_F(EmulatorTest, DeniedMethodIsAccessDenied) {
  emu_.ConfigurePortal(portal_.id, [](PortalOptions& o) { o.denied_methods = {"crm.deal.add"}; });
  ExpectError(Get("crm.deal.add", "fields[TITLE]=x"), 403, "ACCESS_DENIED", "Access denied!");
  EXPECT_EQ(Get("crm.deal.list").status, 200);
}

TEST_F(EmulatorTest, OffsetPagingAndFastMode) {
  Json j = Ok("crm.deal.list", "start=950");
  EXPECT_EQ(j["result"].size(), 50u);
  EXPECT_EQ(j["result"][0]["ID"], "951");
  EXPECT_EQ(j["total"], 1000);
  EXPECT_FALSE(j.contains("next"));
  j = Ok("crm.deal.list", "start=990");
  EXPECT_EQ(j["result"].size(), 10u);
  j = Ok("crm.deal.list", "start=-1&filter[>ID]=100&order[ID]=ASC");
  EXPECT_EQ(j["result"].size(), 50u);
  EXPECT_EQ(j["result"][0]["ID"], "101");
  EXPECT_EQ(j["total"], 0);
  EXPECT_FALSE(j.contains("next"));
  j = Ok("crm.deal.list", "start=2000");
  EXPECT_EQ(j["result"], Json::array());
  EXPECT_EQ(j["total"], 1000);
}

TEST_F(EmulatorTest, FilterOrderSelect) {
  Json j = Ok("crm.deal.list", "filter[%3EID]=995");
  ASSERT_EQ(j["result"].size(), 5u);
  EXPECT_EQ(j["result"][0]["ID"], "996");
  EXPECT_EQ(j["total"], 5);
  // "=" inside a key must be percent-encoded, as with PHP.
  j = Ok("crm.deal.list", "order[ID]=DESC&filter[%3C%3DID]=10&filter[%3E%3DID]=5");
  ASSERT_EQ(j["result"].size(), 6u);
  EXPECT_EQ(j["result"][0]["ID"], "10");
  EXPECT_EQ(j["result"][5]["ID"], "5");
  j = Ok("crm.deal.list", "filter[@ID][]=7&filter[@ID][]=3&select[]=TITLE");
  EXPECT_EQ(j["result"], Json::parse(R"([{"ID":"3","TITLE":"Deal 3"},{"ID":"7","TITLE":"Deal 7"}])"));
  j = Ok("crm.deal.list", "filter[ID]=12&select[]=*");
  EXPECT_EQ(j["result"][0]["ID"], "12");
  EXPECT_GT(j["result"][0].size(), 5u);
  j = Ok("crm.deal.list", "filter[STAGE_ID]=WON&filter[<ID]=21");
  EXPECT_EQ(j["total"], 4);  // 4, 9, 14, 19
}

TEST_F(EmulatorTest, JsonAndFormBodiesMergeOverQuery) {
  CurlResponse r = curl_.PostJson(hook_ + "crm.deal.list?start=500", Json{{"filter", {{">ID", 10}}}, {"start", -1}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["result"][0]["ID"], "11");
  EXPECT_EQ(r.json()["total"], 0);
  // Malformed JSON is silently an empty parameter set (query still applies).
  r = curl_.Post(hook_ + "crm.deal.list?start=100", "{oops", "application/json");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["result"][0]["ID"], "101");
  r = curl_.Post(hook_ + "crm.deal.list?start=100", "start=200&filter%5B%3EID%5D=0",
                 "application/x-www-form-urlencoded");
  EXPECT_EQ(r.json()["result"][0]["ID"], "201");
}

TEST_F(EmulatorTest, DealCrudStoresOnlyChanges) {
  CurlResponse r = PostJson("crm.deal.add", Json{{"fields", {{"TITLE", "New one"}, {"OPPORTUNITY", 99.5}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["result"], 1001);
  Json deal = Ok("crm.deal.get", "id=1001")["result"];
  EXPECT_EQ(deal["ID"], "1001");
  EXPECT_EQ(deal["TITLE"], "New one");
  EXPECT_EQ(deal["OPPORTUNITY"], "99.5");
  EXPECT_EQ(Ok("crm.deal.update", "id=1001&fields[TITLE]=Renamed")["result"], true);
  EXPECT_EQ(Ok("crm.deal.get", "id=1001")["result"]["TITLE"], "Renamed");
  EXPECT_EQ(Ok("crm.deal.list")["total"], 1001);
  EXPECT_EQ(Ok("crm.deal.delete", "id=5")["result"], true);
  ExpectError(Get("crm.deal.get", "id=5"), 400, "", "Not found");
  ExpectError(Get("crm.deal.delete", "id=5"), 400, "", "Not found");
  ExpectError(Get("crm.deal.get", "id=123456"), 400, "", "Not found");
  ExpectError(Get("crm.deal.get"), 400, "", "ID is not defined or invalid.");
  Json j = Ok("crm.deal.list", "order[ID]=DESC");
  EXPECT_EQ(j["total"], 1000);
  EXPECT_EQ(j["result"][0]["ID"], "1001");
  EXPECT_EQ(Ok("crm.deal.list", "filter[@ID][]=4&filter[@ID][]=5")["result"].size(), 1u);
}

TEST_F(EmulatorTest, HostileParametersGetJsonAnswers) {
  for (const char* query : {"%%%&[=&a[b=&=x", "filter=abc&order=x&select=TITLE&start=abc", "filter[][]=1&order[]=DESC",
                            "filter[%3EID][x]=1&start[]=5", "id[]=1", "fields=str", "cmd=7&halt[]=1"}) {
    for (const char* method : {"crm.deal.list", "crm.deal.get", "crm.deal.update", "batch"}) {
      CurlResponse r = Get(method, query);
      EXPECT_TRUE(r.status == 200 || r.status == 400) << method << "?" << query << " " << r.status;
      EXPECT_FALSE(r.json().is_discarded()) << r.body;
    }
  }
  for (const char* body : {"[1,2]", "\"x\"", "{\"cmd\":{\"a\":{\"b\":1}},\"filter\":[]}", "nul"}) {
    CurlResponse r = curl_.Post(hook_ + "batch", body, "application/json");
    EXPECT_EQ(r.status, 200) << body;
  }
  // Bytes that are not UTF-8 come back replaced, not as a broken answer.
  CurlResponse r = Get("crm.deal.add", "fields[TITLE]=%FF%FE");
  ASSERT_EQ(r.status, 200);
  r = Get("crm.deal.get", "id=" + r.json()["result"].dump());
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.json().is_discarded());
}

TEST_F(EmulatorTest, OtherMethodFamilies) {
  Json j = Ok("crm.contact.list", "start=100");
  EXPECT_EQ(j["result"].size(), 20u);
  EXPECT_EQ(j["result"][0]["LAST_NAME"], "Contact 101");
  j = Ok("crm.item.list", "entityTypeId=128&order[id]=DESC&select[]=title");
  EXPECT_EQ(j["result"]["items"].size(), 50u);
  EXPECT_EQ(j["result"]["items"][0], Json::parse(R"({"id":75,"title":"Item 75"})"));
  EXPECT_EQ(j["total"], 75);
  EXPECT_EQ(j["next"], 50);
  ExpectError(Get("crm.item.list"), 400, "NOT_FOUND", "Smart process not found");
  j = Ok("tasks.task.list", "order[ID]=desc&filter[<ID]=60&select[]=TITLE&select[]=RESPONSIBLE_ID");
  EXPECT_EQ(j["result"]["tasks"][0], Json::parse(R"({"id":"59","title":"Task 59","responsibleId":"1"})"));
  EXPECT_EQ(j["total"], 59);
  EXPECT_EQ(Ok("server.time")["result"], "2023-11-14T22:13:20+00:00");
  EXPECT_EQ(Ok("profile")["result"]["ID"], "1");
  j = Ok("app.info")["result"];
  EXPECT_EQ(j["LICENSE_FAMILY"], "project");
}

TEST_F(EmulatorTest, MillionDealsPageDeepAndFast) {
  PortalOptions o = DefaultPortal();
  o.seed.deals = 1'000'000;
  absl::StatusOr<PortalInfo> big = emu_.AddPortal(o);
  ASSERT_TRUE(big.ok());
  CurlResponse r = curl_.Get(big->WebhookUrl(1, "hookcode") + "crm.deal.list?start=999950");
  ASSERT_EQ(r.status, 200);
  Json j = r.json();
  EXPECT_EQ(j["total"], 1'000'000);
  EXPECT_EQ(j["result"][0]["ID"], "999951");
  EXPECT_LT(r.elapsed, absl::Seconds(1));
  EXPECT_NE(big->member_id, portal_.member_id);
}

TEST_F(EmulatorTest, RenamedPortalRedirectsWithSameTarget) {
  absl::StatusOr<PortalInfo> moved = emu_.RenamePortal(portal_.id);
  ASSERT_TRUE(moved.ok());
  EXPECT_NE(moved->port, portal_.port);
  EXPECT_EQ(moved->member_id, portal_.member_id);
  EXPECT_EQ(emu_.portal(portal_.id).domain, moved->domain);
  CurlResponse r = curl_.Post(hook_ + "crm.deal.get?id=2", "", "application/json");
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.headers["location"], moved->client_endpoint + "1/hookcode/crm.deal.get?id=2");
  r = curl_.Get(r.headers["location"]);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["result"]["ID"], "2");
  EXPECT_EQ(emu_.Stats().portals[portal_.id].redirects, 1);
}

TEST_F(EmulatorTest, CountersAndStatsEndpoint) {
  Ok("crm.deal.list");
  Ok("crm.deal.list");
  Get("crm.deal.get", "id=999999");
  ExpectError(curl_.Get(portal_.client_endpoint + "profile"), 401, "NO_AUTH_FOUND", "Wrong authorization data");
  EmulatorStats s = emu_.Stats();
  const PortalStats& p = s.portals[portal_.id];
  EXPECT_EQ(p.http_requests, 4);
  EXPECT_EQ(p.requests_by_method.at("crm.deal.list"), 2);
  EXPECT_EQ(p.requests_by_method.at("profile"), 1);
  EXPECT_EQ(p.executed_by_method.at("crm.deal.get"), 1);
  EXPECT_EQ(p.executed_by_method.count("profile"), 0u);
  ASSERT_EQ(s.rejected.size(), 2u);
  EXPECT_EQ(s.rejected[1].error, "NO_AUTH_FOUND");
  EXPECT_EQ(s.rejected[1].http_status, 401);

  Json stats = curl_.Get(portal_.base_url + "emulator/stats").json();
  EXPECT_EQ(stats["portals"][std::to_string(portal_.id)]["requests_by_method"]["crm.deal.list"], 2);
  EXPECT_EQ(stats["rejected"].size(), 2u);

  emu_.ResetStats();
  EXPECT_EQ(emu_.Stats().portals[portal_.id].http_requests, 0);
  EXPECT_TRUE(emu_.Stats().rejected.empty());
}

TEST_F(EmulatorTest, RealLatencyOption) {
  emu_.ConfigurePortal(portal_.id, [](PortalOptions& o) { o.latency = absl::Milliseconds(40); });
  CurlResponse r = Get("profile");
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(r.elapsed, absl::Milliseconds(40));
}

TEST_F(EmulatorTest, ConcurrentClients) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      CurlClient curl;
      for (int i = 0; i < 25; ++i) {
        CurlResponse r = curl.Get(hook_ + "crm.deal.get?id=" + std::to_string(t * 25 + i + 1));
        if (r.status == 200) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(emu_.Stats().portals[portal_.id].executed_by_method.at("crm.deal.get"), 200);
}

}  // namespace
}  // namespace b24::testing
