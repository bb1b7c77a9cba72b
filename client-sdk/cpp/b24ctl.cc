// b24ctl: command-line client of Bitrix24Service.
//
//   b24ctl [--target=HOST:PORT] [--timeout=SECONDS] call <portal> <method> [params-json]
//   b24ctl [...] batch <portal> <commands-json> [--halt]
//   b24ctl [...] getall <portal> <method> [params-json] [--limit=N]   (one JSON item per line)
//   b24ctl [...] portals
//
// <portal> is a webhook URL, a member_id (32 hex digits) or a configured webhook name.
// Exit status: 0 on success, 1 on an RPC error (printed to stderr), 2 on bad usage.
#include <cstdlib>
#include <iostream>

#include "absl/strings/numbers.h"
#include "client-sdk/cpp/client.h"

namespace {

int Usage() {
  std::cerr << "usage: b24ctl [--target=HOST:PORT] [--timeout=SECONDS] <command> ...\n"
               "  call <portal> <method> [params-json]\n"
               "  batch <portal> <commands-json> [--halt]\n"
               "  getall <portal> <method> [params-json] [--limit=N]\n"
               "  portals\n"
               "<portal>: webhook URL | member_id | configured webhook name\n"
               "target defaults to $B24_TARGET or 127.0.0.1:50051\n";
  return 2;
}

int Fail(const absl::Status& s) {
  std::cerr << "error: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_target = std::getenv("B24_TARGET");
  std::string target = env_target ? env_target : "127.0.0.1:50051";
  double timeout = 60;
  int64_t limit = 0;
  bool halt = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--target=", 0) == 0)
      target = a.substr(9);
    else if (a.rfind("--timeout=", 0) == 0) {
      if (!absl::SimpleAtod(a.substr(10), &timeout) || timeout <= 0) return Usage();
    } else if (a.rfind("--limit=", 0) == 0) {
      if (!absl::SimpleAtoi(a.substr(8), &limit) || limit < 0) return Usage();
    } else if (a == "--halt")
      halt = true;
    else if (a == "--help" || a == "-h")
      return Usage();
    else
      args.push_back(a);
  }
  if (args.empty()) return Usage();
  auto client = b24::client::Client::Insecure(target, absl::Seconds(timeout));
  const std::string& cmd = args[0];
  if (cmd == "call" && (args.size() == 3 || args.size() == 4)) {
    auto out = client.Call(b24::client::ParsePortal(args[1]), args[2], args.size() == 4 ? args[3] : "");
    if (!out.ok()) return Fail(out.status());
    std::cout << *out << "\n";
    return 0;
  }
  if (cmd == "batch" && args.size() == 3) {
    auto out = client.Batch(b24::client::ParsePortal(args[1]), args[2], halt);
    if (!out.ok()) return Fail(out.status());
    std::cout << *out << "\n";
    return 0;
  }
  if (cmd == "getall" && (args.size() == 3 || args.size() == 4)) {
    auto n = client.GetAll(
        b24::client::ParsePortal(args[1]), args[2], args.size() == 4 ? args[3] : "", limit,
        [](const std::string& item) { std::cout << item << "\n"; }, absl::Seconds(timeout));
    if (!n.ok()) return Fail(n.status());
    return 0;
  }
  if (cmd == "portals" && args.size() == 1) {
    auto out = client.ListPortals();
    if (!out.ok()) return Fail(out.status());
    for (const auto& p : out->portals()) {
      std::cout << p.id() << "\t" << p.domain() << "\t"
                << (p.kind() == bitrix24::v1::PortalInfo::KIND_OAUTH ? "oauth" : "webhook") << "\n";
    }
    return 0;
  }
  return Usage();
}
