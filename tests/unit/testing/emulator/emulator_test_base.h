// Shared fixture of the emulator integration tests: an Emulator on a FakeClock
// with one portal (seeded data, webhook user 1 / code "hookcode", limits off
// unless a test turns them on) and a libcurl client.
#pragma once

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/emulator/emulator.h"
#include "tests/testing/emulator/php.h"
#include "tests/testing/fake_clock.h"
#include "tests/unit/testing/curl_client.h"

namespace b24::testing {

using Json = nlohmann::ordered_json;

class EmulatorTestBase : public ::testing::Test {
 protected:
  static PortalOptions DefaultPortal() {
    PortalOptions o;
    o.seed.deals = 1000;
    o.seed.contacts = 120;
    o.seed.crm_items = 75;
    o.seed.tasks = 60;
    o.webhooks = {{1, "hookcode"}};
    o.rate_limit.enabled = false;
    o.operating.enabled = false;
    return o;
  }

  void SetUp() override {
    ASSERT_TRUE(emu_.Start().ok());
    absl::StatusOr<PortalInfo> p = emu_.AddPortal(DefaultPortal());
    ASSERT_TRUE(p.ok()) << p.status();
    portal_ = *p;
    hook_ = portal_.WebhookUrl(1, "hookcode");
  }

  // GET <webhook><method>?<query>
  CurlResponse Get(const std::string& method, const std::string& query = "") {
    return curl_.Get(hook_ + method + (query.empty() ? "" : "?" + query));
  }
  CurlResponse PostJson(const std::string& method, const Json& body) { return curl_.PostJson(hook_ + method, body); }
  // The JSON of a call that must succeed.
  Json Ok(const std::string& method, const std::string& query = "") {
    CurlResponse r = Get(method, query);
    EXPECT_EQ(r.status, 200) << method << "?" << query << " → " << r.body;
    return r.json();
  }

  FakeClock clock_;
  Emulator emu_{clock_};
  PortalInfo portal_;
  std::string hook_;
  CurlClient curl_;
};

// An error envelope: exactly {"error","error_description"} and no `time`.
inline void ExpectError(const CurlResponse& r, long status, const std::string& error, const std::string& description) {
  EXPECT_EQ(r.status, status) << r.body;
  Json j = r.json();
  EXPECT_EQ(j, (Json{{"error", error}, {"error_description", description}})) << r.body;
}

}  // namespace b24::testing
