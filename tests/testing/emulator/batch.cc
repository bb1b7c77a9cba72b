#include "tests/testing/emulator/batch.h"

#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace b24::testing {
namespace {

using Json = php::Json;

struct Reference {
  size_t end;       // index just past the reference
  std::string map;  // "result", "next", ...
  std::vector<std::string> path;
};

// Matches /\$(result|next|total|time|error)((\[[^\]]*\])+)/i at s[pos].
std::optional<Reference> MatchReference(const std::string& s, size_t pos) {
  static const char* const kMaps[] = {"result", "next", "total", "time", "error"};
  for (const char* map : kMaps) {
    absl::string_view name(map);
    size_t p = pos + 1;
    if (s.size() < p + name.size() || !absl::EqualsIgnoreCase(s.substr(p, name.size()), name)) {
      continue;
    }
    p += name.size();
    Reference ref{p, std::string(name), {}};
    while (p < s.size() && s[p] == '[') {
      size_t close = s.find(']', p + 1);
      if (close == std::string::npos) break;
      ref.path.push_back(s.substr(p + 1, close - p - 1));
      p = close + 1;
      ref.end = p;
    }
    if (!ref.path.empty()) return ref;
  }
  return std::nullopt;
}

const Json& Resolve(const Json& done, const Reference& ref) {
  static const Json kNull;
  auto map = done.find(ref.map);
  if (map == done.end()) return kNull;
  const Json* data = &*map;
  for (const std::string& key : ref.path) {
    if (data->is_object()) {
      auto it = data->find(key);
      if (it == data->end()) break;
      data = &*it;
    } else if (data->is_array()) {
      size_t index;
      if (!absl::SimpleAtoi(key, &index) || index >= data->size() || (key.size() > 1 && key[0] == '0')) {
        break;
      }
      data = &(*data)[index];
    } else {
      break;
    }
  }
  return *data;
}

void Substitute(Json* value, const Json& done) {
  if (value->is_object() || value->is_array()) {
    for (auto& v : *value) Substitute(&v, done);
    return;
  }
  if (!value->is_string()) return;
  const std::string s = value->get<std::string>();
  std::string out;
  for (size_t i = 0; i < s.size();) {
    std::optional<Reference> ref;
    if (s[i] == '$') ref = MatchReference(s, i);
    if (!ref.has_value()) {
      out.push_back(s[i++]);
      continue;
    }
    const Json& data = Resolve(done, *ref);
    if (i == 0 && ref->end == s.size()) {
      *value = data;
      return;
    }
    std::string scalar;
    if (php::ToScalarString(data, &scalar)) {
      out += scalar;
    } else {
      out.append(s, i, ref->end - i);
    }
    i = ref->end;
  }
  *value = std::move(out);
}

}  // namespace

void SplitBatchCommand(absl::string_view command, std::string* method, php::Json* params) {
  size_t q = command.find('?');
  *method = absl::AsciiStrToLower(command.substr(0, q));
  *params = AsPhpObject(q == absl::string_view::npos ? Json::object() : php::ParseStr(command.substr(q + 1)));
}

void SubstituteBatchReferences(php::Json* params, const php::Json& done) { Substitute(params, done); }

php::Json AsPhpObject(php::Json value) {
  if (value.is_object()) return value;
  Json out = Json::object();
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) out[std::to_string(i)] = std::move(value[i]);
  }
  return out;
}

}  // namespace b24::testing
