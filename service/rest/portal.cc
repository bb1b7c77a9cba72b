#include "service/rest/portal.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace b24::rest {

bool IsReadOnlyMethod(const std::string& method) {
  std::string m = absl::AsciiStrToLower(method);
  for (const char* exact : {"profile", "app.info", "server.time", "user.current", "methods", "scope", "method.get",
                            "feature.get", "app.option.get", "user.option.get"}) {
    if (m == exact) return true;
  }
  size_t dot = m.rfind('.');
  std::string last = dot == std::string::npos ? m : m.substr(dot + 1);
  for (const char* verb : {"get", "list", "fields", "search", "count", "current", "info"}) {
    if (absl::StartsWith(last, verb)) return true;
  }
  return false;
}

bool IsValidMethodName(const std::string& method) {
  if (method.empty() || method.size() > 200) return false;
  for (char c : method) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_') return false;
  }
  return method.front() != '.' && method.back() != '.';
}

}  // namespace b24::rest
