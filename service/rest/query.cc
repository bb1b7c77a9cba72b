#include "service/rest/query.h"

#include "absl/strings/str_cat.h"

namespace b24::rest {
namespace {

void Append(const std::string& prefix, const nlohmann::ordered_json& v, std::string* out) {
  auto add = [&](const std::string& value) {
    if (!out->empty()) out->push_back('&');
    absl::StrAppend(out, UrlEncode(prefix), "=", UrlEncode(value));
  };
  switch (v.type()) {
    case nlohmann::ordered_json::value_t::object:
      for (const auto& [k, item] : v.items()) Append(absl::StrCat(prefix, "[", k, "]"), item, out);
      break;
    case nlohmann::ordered_json::value_t::array:
      for (size_t i = 0; i < v.size(); ++i) Append(absl::StrCat(prefix, "[", i, "]"), v[i], out);
      break;
    case nlohmann::ordered_json::value_t::string:
      add(v.get<std::string>());
      break;
    case nlohmann::ordered_json::value_t::boolean:
      add(v.get<bool>() ? "1" : "0");
      break;
    case nlohmann::ordered_json::value_t::null:
      break;
    default:  // numbers
      add(v.dump());
  }
}

}  // namespace

std::string UrlEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string BuildQuery(const nlohmann::ordered_json& params) {
  std::string out;
  if (!params.is_object()) return out;
  for (const auto& [k, v] : params.items()) Append(k, v, &out);
  return out;
}

}  // namespace b24::rest
