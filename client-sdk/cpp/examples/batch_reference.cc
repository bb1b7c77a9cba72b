// A batch whose second command uses the first one's result: $result[a][ID].
#include <bitrix24/client.h>

#include <cstdlib>
#include <iostream>

static std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

int main() {
  auto client = b24::client::Client::Insecure(Env("B24_TARGET", "127.0.0.1:50051"));
  auto out = client.Batch(b24::client::ParsePortal(Env("B24_PORTAL", "sandbox")), R"([
      {"key": "a", "method": "crm.deal.get", "params": {"id": 1}},
      {"key": "b", "method": "crm.deal.list", "params": {"filter": {"ID": "$result[a][ID]"}, "select": ["ID"]}}])",
                          /*halt=*/true);
  if (!out.ok()) {
    std::cerr << out.status() << "\n";
    return 1;
  }
  std::cout << *out << "\n";  // {"results": [{"key": "a", "result": {...}}, {"key": "b", ...}], "http_requests": 1}
  return 0;
}
