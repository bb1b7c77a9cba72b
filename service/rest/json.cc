#include "service/rest/json.h"

#include <memory>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/common/utf8.h"

namespace b24::rest {
namespace {

// Objects with more keys than this get a hash index for duplicate checks.
constexpr size_t kIndexedObjectKeys = 16;

// Builds a Json value from nlohmann's SAX events. Frames point into their
// parents' storage; a parent never grows while a child is open, so the
// pointers stay valid (the same argument as nlohmann's own DOM builder).
class Builder {
 public:
  explicit Builder(const JsonLimits& limits) : limits_(limits) {}

  bool null() { return Scalar(Json(nullptr)); }
  bool boolean(bool v) { return Scalar(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return Scalar(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return Scalar(Json(v)); }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return Scalar(Json(v)); }
  bool string(Json::string_t& v) { return Scalar(Json(std::move(v))); }
  bool binary(Json::binary_t&) { return Fail(JsonError::kSyntax, "binary values are not JSON"); }

  bool start_object(std::size_t) { return Open(Json::object()); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(Json::string_t& k) {
    Frame& f = stack_.back();
    // Indexed as a vector: ordered_map's own operator[] takes keys.
    Json::object_t::Container& entries = f.value->get_ref<Json::object_t&>();
    // Entries live in a std::vector (ordered_map's base): append or find.
    if (!f.index && entries.size() >= kIndexedObjectKeys) {
      f.index = std::make_unique<std::unordered_map<std::string, size_t>>();
      for (size_t i = 0; i < entries.size(); ++i) (*f.index)[entries[i].first] = i;
    }
    size_t slot = entries.size();
    if (f.index) {
      auto [it, inserted] = f.index->emplace(k, entries.size());
      slot = it->second;
    } else {
      for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].first == k) {
          slot = i;
          break;
        }
      }
    }
    if (slot == entries.size()) {
      entries.emplace_back(std::move(k), Json());
    } else {
      entries[slot].second = Json();  // a repeated key: the last one wins
    }
    f.pending = &entries[slot].second;
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    if (error_ == JsonError::kNone) {
      error_ = JsonError::kSyntax;
      // nlohmann's message names the position and the offending token.
      std::string what = e.what();
      size_t colon = what.find("] ");
      message_ = absl::StrCat("not valid JSON: ", colon == std::string::npos ? what : what.substr(colon + 2));
    }
    return false;
  }

  JsonParse Result() {
    JsonParse out;
    out.error = error_;
    out.message = message_;
    if (error_ == JsonError::kNone) out.value = std::move(root_);
    return out;
  }

 private:
  struct Frame {
    Json* value;
    Json* pending = nullptr;  // objects: where the value of the last key goes
    std::unique_ptr<std::unordered_map<std::string, size_t>> index;
  };

  bool Fail(JsonError error, std::string message) {
    error_ = error;
    message_ = std::move(message);
    return false;
  }

  bool Count() {
    if (++values_ > limits_.max_values) {
      return Fail(JsonError::kTooManyValues, absl::StrCat("more than ", limits_.max_values, " values"));
    }
    return true;
  }

  // Where the next value goes.
  Json* Slot() {
    if (stack_.empty()) return &root_;
    Frame& f = stack_.back();
    if (f.value->is_array()) {
      auto& a = f.value->get_ref<Json::array_t&>();
      a.emplace_back();
      return &a.back();
    }
    Json* p = f.pending;
    f.pending = nullptr;
    return p;
  }

  bool Scalar(Json v) {
    if (!Count()) return false;
    *Slot() = std::move(v);
    return true;
  }

  bool Open(Json v) {
    if (!Count()) return false;
    if (stack_.size() + 1 > limits_.max_depth) {
      return Fail(JsonError::kTooDeep, absl::StrCat("nested deeper than ", limits_.max_depth, " levels"));
    }
    Json* slot = Slot();
    *slot = std::move(v);
    stack_.push_back({slot});
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  const JsonLimits& limits_;
  Json root_;
  std::vector<Frame> stack_;
  size_t values_ = 0;
  JsonError error_ = JsonError::kNone;
  std::string message_;
};

}  // namespace

JsonParse ParseUntrustedJson(absl::string_view text, const JsonLimits& limits) {
  std::string repaired;
  if (!IsValidUtf8(text)) {
    repaired = SanitizeUtf8(text);
    text = repaired;
  }
  Builder builder(limits);
  try {
    nlohmann::ordered_json::sax_parse(text.begin(), text.end(), &builder, nlohmann::detail::input_format_t::json,
                                      /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {  // the SAX interface reports errors itself; this is a backstop
    JsonParse out;
    out.error = JsonError::kSyntax;
    out.message = absl::StrCat("not valid JSON: ", e.what());
    return out;
  }
  return builder.Result();
}

size_t JsonDepth(const Json& value) {
  size_t deepest = 0;
  std::vector<std::pair<const Json*, size_t>> stack = {{&value, 0}};
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    for (const Json& child : *v) stack.emplace_back(&child, depth + 1);
  }
  return deepest;
}

void AppendUniqueKey(Json& object, std::string key, Json value) {
  if (!object.is_object()) object = Json::object();
  Json::object_t::Container& entries = object.get_ref<Json::object_t&>();
  entries.emplace_back(std::move(key), std::move(value));
}

}  // namespace b24::rest
