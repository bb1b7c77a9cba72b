// Injected faults: HTML and JSON 5xx, empty bodies, dropped connections before
// and after executing, slow answers, per-method targeting and counts.
#include "tests/unit/testing/emulator/emulator_test_base.h"

namespace b24::testing {
namespace {

class EmulatorFaultsTest : public EmulatorTestBase {
 protected:
  int64_t DealTotal() { return Ok("crm.deal.list", "select[]=ID")["total"].get<int64_t>(); }
};

TEST_F(EmulatorFaultsTest, HtmlJsonAndEmptyBodies) {
  emu_.InjectFault(portal_.id, Fault::Html(502, "<html>Bad Gateway</html>"));
  emu_.InjectFault(portal_.id, Fault::JsonError(500, "INTERNAL_SERVER_ERROR", "Internal server error"));
  emu_.InjectFault(portal_.id, Fault::EmptyBody(504));
  EXPECT_EQ(emu_.PendingFaults(), 3);
  CurlResponse r = Get("profile");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.body, "<html>Bad Gateway</html>");
  EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
  ExpectError(Get("profile"), 500, "INTERNAL_SERVER_ERROR", "Internal server error");
  r = Get("profile");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(Get("profile").status, 200);
  EXPECT_EQ(emu_.PendingFaults(), 0);
  EmulatorStats s = emu_.Stats();
  EXPECT_EQ(s.portals[portal_.id].faults, 3);
  EXPECT_EQ(s.rejected.size(), 3u);
  EXPECT_EQ(s.portals[portal_.id].executed_by_method.at("profile"), 1);
}

TEST_F(EmulatorFaultsTest, MethodTargetAndCount) {
  emu_.InjectFault(portal_.id, Fault::JsonError(403, "ACCESS_DENIED", "Access denied!", "crm.deal.add").Times(2));
  EXPECT_EQ(Get("crm.deal.list").status, 200);
  ExpectError(Get("crm.deal.add", "fields[TITLE]=a"), 403, "ACCESS_DENIED", "Access denied!");
  // Inside a batch the same fault hits the matching sub-command only.
  Json j = PostJson("batch", Json{{"cmd", {{"l", "crm.deal.list"}, {"a", "crm.deal.add"}}}}).json();
  EXPECT_EQ(j["result"]["result_error"]["a"]["error"], "ACCESS_DENIED");
  EXPECT_TRUE(j["result"]["result"].contains("l"));
  EXPECT_EQ(Get("crm.deal.add", "fields[TITLE]=a").status, 200);
  EXPECT_EQ(DealTotal(), 1001);
}

TEST_F(EmulatorFaultsTest, DropBeforeExecuteChangesNothing) {
  emu_.InjectFault(portal_.id, Fault::DropBeforeExecute("crm.deal.add"));
  EXPECT_EQ(Get("crm.deal.add", "fields[TITLE]=a").code, CURLE_GOT_NOTHING);
  EXPECT_EQ(DealTotal(), 1000);
  EXPECT_EQ(emu_.Stats().portals[portal_.id].executed_by_method.count("crm.deal.add"), 0u);
}

TEST_F(EmulatorFaultsTest, DropAfterExecuteIsAnAmbiguousWrite) {
  emu_.InjectFault(portal_.id, Fault::DropAfterExecute("crm.deal.add"));
  EXPECT_EQ(Get("crm.deal.add", "fields[TITLE]=a").code, CURLE_GOT_NOTHING);
  EXPECT_EQ(DealTotal(), 1001);  // It happened although the client saw nothing.
  EXPECT_EQ(Ok("crm.deal.get", "id=1001")["result"]["TITLE"], "a");
  EmulatorStats s = emu_.Stats();
  EXPECT_EQ(s.portals[portal_.id].executed_by_method.at("crm.deal.add"), 1);
  EXPECT_EQ(s.rejected.back().error, "DROPPED_AFTER_EXECUTE");
}

TEST_F(EmulatorFaultsTest, SlowAnswerDoesNotBlockOthers) {
  emu_.InjectFault(portal_.id, Fault::Slow(absl::Milliseconds(300), "server.time"));
  std::thread slow([this] {
    CurlClient curl;
    CurlResponse r = curl.Get(hook_ + "server.time");
    EXPECT_EQ(r.status, 200);
    EXPECT_GE(r.elapsed, absl::Milliseconds(300));
  });
  while (emu_.PendingFaults() > 0) absl::SleepFor(absl::Milliseconds(1));
  CurlResponse fast = Get("profile");
  EXPECT_EQ(fast.status, 200);
  EXPECT_LT(fast.elapsed, absl::Milliseconds(250));
  slow.join();
}

TEST_F(EmulatorFaultsTest, ClearFaultsAndOtherPortals) {
  absl::StatusOr<PortalInfo> other = emu_.AddPortal(DefaultPortal());
  emu_.InjectFault(other->id, Fault::Html(502).Times(5));
  EXPECT_EQ(Get("profile").status, 200);  // Only the other portal is affected.
  EXPECT_EQ(curl_.Get(other->WebhookUrl(1, "hookcode") + "profile").status, 502);
  emu_.ClearFaults();
  EXPECT_EQ(curl_.Get(other->WebhookUrl(1, "hookcode") + "profile").status, 200);
}

}  // namespace
}  // namespace b24::testing
