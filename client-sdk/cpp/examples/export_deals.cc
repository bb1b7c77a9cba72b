// Exports every deal as JSON Lines: the README's C++ snippet.
// B24_TARGET (default 127.0.0.1:50051) and B24_PORTAL (default "sandbox") pick the gateway and portal.
#include <bitrix24/client.h>

#include <cstdlib>
#include <iostream>

static std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

int main() {
  auto client = b24::client::Client::Insecure(Env("B24_TARGET", "127.0.0.1:50051"));
  auto deals = client.GetAll(b24::client::ParsePortal(Env("B24_PORTAL", "sandbox")), "crm.deal.list");
  for (const std::string& deal : deals) std::cout << deal << "\n";
  if (deals.status().ok()) return 0;
  std::cerr << deals.status() << "\nresume with GetAllOptions::cursor = " << deals.cursor() << "\n";
  return 1;
}
