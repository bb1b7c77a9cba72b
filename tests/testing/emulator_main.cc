// b24-emulator: one emulated Bitrix24 portal (with an incoming webhook) and the
// OAuth server as a standalone process, for manual runs, benchmarks and tests
// in other processes. Prints one JSON line with its URLs to stdout, then serves
// until SIGTERM or SIGINT and exits 0. Counters: GET <portal_url>emulator/stats.
//
//   b24-emulator [--port=0] [--oauth-port=0] [--deals=N] [--contacts=N]
//                [--crm-items=N] [--tasks=N] [--webhook-user=1]
//                [--webhook-code=sandboxcode] [--burst=50] [--drain=2]
//                [--no-limits] [--operating-limit=480] [--cost-request-ms=0]
//                [--cost-item-ms=0] [--cost-count-row-us=0] [--latency-ms=0]
//                [--deny-methods=crm.deal.delete,...]     (403 ACCESS_DENIED)
//                [--client-id=ID --client-secret=SECRET]   (also installs the app)
//
// Faults for tests in other processes: POST <portal_url>emulator/faults with
// {"kind": "json_error"|"html"|"empty"|"drop_before_execute"|"drop_after_execute"|"slow",
//  "method": "crm.deal.add", "count": 1, "status": 500, "error": "...",
//  "error_description": "...", "body": "...", "delay_ms": 1000}; DELETE clears them.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/common/clock.h"
#include "tests/testing/emulator/emulator.h"

namespace {

int Usage(const std::string& error) {
  std::cerr << "b24-emulator: " << error << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"port", "0"},
                                              {"oauth-port", "0"},
                                              {"deals", "0"},
                                              {"contacts", "0"},
                                              {"crm-items", "0"},
                                              {"tasks", "0"},
                                              {"webhook-user", "1"},
                                              {"webhook-code", "sandboxcode"},
                                              {"burst", "50"},
                                              {"drain", "2"},
                                              {"operating-limit", "480"},
                                              {"cost-request-ms", "0"},
                                              {"cost-item-ms", "0"},
                                              {"cost-count-row-us", "0"},
                                              {"latency-ms", "0"},
                                              {"deny-methods", ""},
                                              {"client-id", ""},
                                              {"client-secret", ""}};
  bool no_limits = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--no-limits") {
      no_limits = true;
      continue;
    }
    size_t eq = arg.find('=');
    if (!absl::StartsWith(arg, "--") || eq == std::string::npos || flags.count(arg.substr(2, eq - 2)) == 0) {
      return Usage("unknown flag " + arg);
    }
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  auto num = [&](const std::string& name) {
    double v = 0;
    if (!absl::SimpleAtod(flags[name], &v)) {
      std::cerr << "b24-emulator: --" << name << " wants a number\n";
      std::exit(2);
    }
    return v;
  };

  // Block the signals before any thread starts so that only sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  b24::RealClock clock;
  b24::testing::EmulatorOptions options;
  options.oauth_port = static_cast<int>(num("oauth-port"));
  b24::testing::Emulator emulator(clock, options);
  if (absl::Status s = emulator.Start(); !s.ok()) return Usage(s.ToString());

  b24::testing::PortalOptions portal;
  portal.port = static_cast<int>(num("port"));
  portal.seed.deals = static_cast<int64_t>(num("deals"));
  portal.seed.contacts = static_cast<int64_t>(num("contacts"));
  portal.seed.crm_items = static_cast<int64_t>(num("crm-items"));
  portal.seed.tasks = static_cast<int64_t>(num("tasks"));
  int64_t webhook_user = static_cast<int64_t>(num("webhook-user"));
  portal.webhooks.push_back({webhook_user, flags["webhook-code"]});
  portal.rate_limit.enabled = !no_limits;
  portal.rate_limit.burst = num("burst");
  portal.rate_limit.drain_per_second = num("drain");
  portal.operating.enabled = !no_limits;
  portal.operating.limit = absl::Seconds(num("operating-limit"));
  portal.cost.per_request = absl::Milliseconds(num("cost-request-ms"));
  portal.cost.per_item = absl::Milliseconds(num("cost-item-ms"));
  portal.cost.per_count_row = absl::Microseconds(num("cost-count-row-us"));
  portal.latency = absl::Milliseconds(num("latency-ms"));
  for (absl::string_view m : absl::StrSplit(flags["deny-methods"], ',', absl::SkipEmpty())) {
    portal.denied_methods.insert(absl::AsciiStrToLower(m));
  }
  absl::StatusOr<b24::testing::PortalInfo> info = emulator.AddPortal(portal);
  if (!info.ok()) return Usage(info.status().ToString());

  nlohmann::ordered_json line = {{"portal_url", info->base_url},
                                 {"webhook_url", info->WebhookUrl(webhook_user, flags["webhook-code"])},
                                 {"oauth_url", emulator.oauth_token_url()},
                                 {"server_endpoint", emulator.oauth_server_endpoint()},
                                 {"member_id", info->member_id},
                                 {"stats_url", absl::StrCat(info->base_url, "emulator/stats")}};
  if (!flags["client-id"].empty()) {
    emulator.RegisterApp({flags["client-id"], flags["client-secret"]});
    absl::StatusOr<b24::testing::Installation> inst = emulator.Install(info->id, flags["client-id"], webhook_user);
    if (!inst.ok()) return Usage(inst.status().ToString());
    line["client_id"] = flags["client-id"];
    line["access_token"] = inst->access_token;
    line["refresh_token"] = inst->refresh_token;
    line["application_token"] = inst->application_token;
  }
  std::cout << line.dump() << std::endl;  // endl flushes: the caller waits for this line.

  int sig = 0;
  sigwait(&signals, &sig);
  emulator.Stop();
  return 0;
}
