// PHP semantics the Bitrix24 REST server inherits and the emulator must copy
// (PROTOCOL.md §1.3, §1.4, §1.7, §4.1): parse_str() of query strings and form
// bodies, json_encode()'s list-or-object rule, and PHP's casts.
//
// PHP arrays are ordered, so everything here uses nlohmann::ordered_json.
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"

namespace b24::testing::php {

using Json = nlohmann::ordered_json;

// Percent-decodes `s`; with `plus_as_space` '+' becomes ' ' (urldecode).
std::string UrlDecode(absl::string_view s, bool plus_as_space = true);
// rawurlencode(): everything but [A-Za-z0-9-_.~] as %XX.
std::string UrlEncode(absl::string_view s);

// parse_str(): "fields[TITLE]=x&select[]=ID&filter[>ID]=5" →
// {"fields":{"TITLE":"x"},"select":["ID"],"filter":{">ID":"5"}}. Values stay
// strings; `[]` appends at max integer key + 1; '.' and ' ' in the top-level
// name become '_'; arrays with keys exactly 0..n-1 become JSON lists (ToPhpJson);
// variables nested 64 levels or deeper are dropped (max_input_nesting_level).
Json ParseStr(absl::string_view query);

// json_encode()'s view of a PHP array, applied recursively: an object whose keys
// are exactly "0".."n-1" in order becomes a list, and an empty one becomes [].
Json ToPhpJson(Json value);
// The same rule for the top level only (batch result maps hold method results
// that are already in their final shape).
Json PhpArray(Json object);

// (bool) cast: null, false, 0, 0.0, "", "0" and empty arrays are false; the
// string "false" is true.
bool ToBool(const Json& value);
// intval(): numbers truncated, strings by their leading integer ("12abc" → 12,
// "abc" → 0), bools 0/1, anything else 0.
int64_t ToInt(const Json& value);
// (string) cast of a scalar: true → "1", false → "", numbers as PHP prints
// them. Returns false for null, arrays and objects (is_scalar() is false).
bool ToScalarString(const Json& value, std::string* out);
// Lower-cases and drops '_' so "RESPONSIBLE_ID", "responsibleId" and
// "responsible_id" compare equal; used for select and filter field names.
std::string FieldKey(absl::string_view name);

}  // namespace b24::testing::php
