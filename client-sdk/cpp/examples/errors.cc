// What to do with the errors a caller must tell apart: a limit or deadline
// (wait and retry later), a portal that needs the app reinstalled (tell its
// admin), a write that may have executed (check before repeating), and the
// Bitrix24 code of anything else.
#include <bitrix24/client.h>

#include <cstdlib>
#include <iostream>

static std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Returns true when the caller may retry later.
static bool Handle(const absl::Status& status) {
  b24::client::Error e = b24::client::Classify(status);
  switch (e.kind) {
    case b24::client::Error::Kind::kLimit:
      std::cout << "limit: " << e.code << " (" << e.description << "): retry later with a longer deadline\n";
      return true;
    case b24::client::Error::Kind::kNeedsReinstall:
      std::cout << "reinstall: the app must be installed again on this portal: " << e.description << "\n";
      return false;
    case b24::client::Error::Kind::kError:
      std::cout << "error: code=" << (e.code.empty() ? "(none)" : e.code)
                << " may_have_executed=" << e.may_have_executed << ": " << e.description << "\n";
      return false;
  }
  return false;
}

int main() {
  auto client = b24::client::Client::Insecure(Env("B24_TARGET", "127.0.0.1:50051"));
  auto portal = b24::client::ParsePortal(Env("B24_PORTAL", "sandbox"));
  // A deadline too short to send anything: DEADLINE_BEFORE_SEND, a limit.
  b24::client::CallOptions hurried;
  hurried.timeout = absl::Milliseconds(30);
  auto quick = client.Call(portal, "crm.deal.get", R"({"id": 1})", hurried);
  if (quick.ok() || !Handle(quick.status())) return 1;
  // A method the webhook may not call: the Bitrix24 code reaches the caller.
  auto denied = client.Call(portal, "crm.deal.delete", R"({"id": 1})");
  if (denied.ok() || Handle(denied.status())) return 1;
  // A member_id the gateway has never seen: NOT_FOUND from the gateway itself.
  auto unknown = client.Call(b24::client::ParsePortal("0123456789abcdef0123456789abcdef"), "profile", "");
  if (unknown.ok()) return 1;
  Handle(unknown.status());
  return 0;
}
