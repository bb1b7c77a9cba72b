#include "tests/testing/emulator/php.h"

#include <cmath>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace b24::testing::php {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// PHP treats "5" as the integer key 5 but "05", "-0" or "5 " as strings.
bool IsIntKey(absl::string_view key, int64_t* out) {
  if (key.empty() || key.size() > 18) return false;
  if (key != "0" && (key[0] == '0' || (key[0] == '-' && (key.size() == 1 || key[1] == '0')))) {
    return false;
  }
  return absl::SimpleAtoi(key, out);
}

std::string NextIndex(const Json& object) {
  int64_t next = 0;
  for (auto it = object.begin(); it != object.end(); ++it) {
    int64_t k;
    if (IsIntKey(it.key(), &k) && k >= next) next = k + 1;
  }
  return std::to_string(next);
}

bool IsSequential(const Json& object) {
  size_t i = 0;
  for (auto it = object.begin(); it != object.end(); ++it, ++i) {
    if (it.key() != std::to_string(i)) return false;
  }
  return true;
}

// php_register_variable_ex(): splits "a[b][]" into "a", "b", <append>.
void Register(Json* root, absl::string_view key, std::string value) {
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  std::string base;
  std::vector<std::optional<std::string>> path;  // nullopt = "[]"
  size_t lb = key.find('[');
  if (lb != absl::string_view::npos && key.find(']', lb) == absl::string_view::npos) {
    base = std::string(key);  // Unmatched '[': the whole key is the name.
    base[lb] = '_';
    for (size_t i = 0; i < lb; ++i) {
      if (base[i] == '.' || base[i] == ' ') base[i] = '_';
    }
  } else {
    base = std::string(key.substr(0, lb));
    for (char& c : base) {
      if (c == '.' || c == ' ') c = '_';
    }
    size_t pos = lb;
    while (pos != absl::string_view::npos && pos < key.size() && key[pos] == '[') {
      size_t rb = key.find(']', pos + 1);
      if (rb == absl::string_view::npos) break;  // Trailing garbage is ignored.
      absl::string_view seg = key.substr(pos + 1, rb - pos - 1);
      if (seg.empty()) {
        path.push_back(std::nullopt);
      } else {
        path.push_back(std::string(seg));
      }
      pos = rb + 1;
    }
  }
  // PHP's max_input_nesting_level (64) drops deeper variables entirely.
  if (base.empty() || path.size() >= 64) return;
  Json* cur = root;
  std::string name = base;
  for (const auto& seg : path) {
    Json& next = (*cur)[name];
    if (!next.is_object()) next = Json::object();
    cur = &next;
    name = seg.has_value() ? *seg : NextIndex(*cur);
  }
  (*cur)[name] = std::move(value);
}

}  // namespace

std::string UrlDecode(absl::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string UrlEncode(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Json ParseStr(absl::string_view query) {
  Json out = Json::object();
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = UrlDecode(pair.substr(0, eq));
    std::string value = eq == absl::string_view::npos ? "" : UrlDecode(pair.substr(eq + 1));
    Register(&out, key, std::move(value));
  }
  return ToPhpJson(std::move(out));
}

Json ToPhpJson(Json value) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) *it = ToPhpJson(std::move(*it));
    return PhpArray(std::move(value));
  }
  if (value.is_array()) {
    for (auto& v : value) v = ToPhpJson(std::move(v));
  }
  return value;
}

Json PhpArray(Json object) {
  if (!object.is_object()) return object;
  if (object.empty()) return Json::array();
  if (!IsSequential(object)) return object;
  Json list = Json::array();
  for (auto it = object.begin(); it != object.end(); ++it) list.push_back(std::move(*it));
  return list;
}

bool ToBool(const Json& value) {
  switch (value.type()) {
    case Json::value_t::boolean:
      return value.get<bool>();
    case Json::value_t::number_integer:
      return value.get<int64_t>() != 0;
    case Json::value_t::number_unsigned:
      return value.get<uint64_t>() != 0;
    case Json::value_t::number_float:
      return value.get<double>() != 0.0;
    case Json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      return !(s.empty() || s == "0");
    }
    case Json::value_t::array:
    case Json::value_t::object:
      return !value.empty();
    default:
      return false;
  }
}

int64_t ToInt(const Json& value) {
  switch (value.type()) {
    case Json::value_t::boolean:
      return value.get<bool>() ? 1 : 0;
    case Json::value_t::number_integer:
      return value.get<int64_t>();
    case Json::value_t::number_unsigned:
      return static_cast<int64_t>(value.get<uint64_t>());
    case Json::value_t::number_float: {
      double d = value.get<double>();
      return std::isfinite(d) ? static_cast<int64_t>(d) : 0;
    }
    case Json::value_t::string: {
      absl::string_view s = absl::StripLeadingAsciiWhitespace(value.get_ref<const std::string&>());
      size_t n = 0;
      if (n < s.size() && (s[n] == '-' || s[n] == '+')) ++n;
      while (n < s.size() && n < 19 && absl::ascii_isdigit(static_cast<unsigned char>(s[n]))) ++n;
      int64_t out = 0;
      return absl::SimpleAtoi(s.substr(0, n), &out) ? out : 0;
    }
    default:
      return 0;
  }
}

bool ToScalarString(const Json& value, std::string* out) {
  switch (value.type()) {
    case Json::value_t::string:
      *out = value.get<std::string>();
      return true;
    case Json::value_t::boolean:  // "1" or "" (assign(n, c) dodges a GCC 12 -Wrestrict bug)
      out->assign(value.get<bool>() ? 1 : 0, '1');
      return true;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      *out = value.dump();
      return true;
    default:
      return false;
  }
}

std::string FieldKey(absl::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != '_') out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace b24::testing::php
