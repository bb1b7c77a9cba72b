// Untrusted JSON: parsing what a portal, an OAuth server or a client sent,
// with explicit limits and in linear time.
//
// ParseUntrustedJson is the only way portal or client JSON text becomes a
// Json value in this project. It
//   - refuses documents nested deeper than `max_depth` (an answer nested
//     100,000 levels would otherwise cost a stack overflow in whatever
//     recursive code touches it next: conversion, copying, printing);
//   - refuses documents with more than `max_values` values (a 64 MiB answer of
//     "[[],[],...]" would otherwise become gigabytes of nodes);
//   - builds objects in linear time: keys are appended, and a per-object hash
//     index (only for objects with many keys) finds duplicates, the last of
//     which wins as in PHP (nlohmann's ordered_map searches linearly on every
//     insert, which made a 100,000-key answer cost 9 s);
//   - repairs ill-formed UTF-8 (U+FFFD) instead of rejecting the document,
//     so one bad byte in one deal's title does not fail a whole export.
// Parsing is iterative (nlohmann's SAX parser keeps its own stack) and
// destroying the result is iterative too (nlohmann ≥ 3.10), so nothing here
// recurses on the input's depth.
//
// Errors: INVALID_ARGUMENT with a message saying what is wrong and where
// (callers wrap it into their own status: UPSTREAM_BAD_RESPONSE for portals,
// INVALID_CURSOR for cursors, ...). Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace b24::rest {

// Ordered: batch commands, pages chained by references and multi-key `order`
// params run in the order they are written, so key order must survive.
using Json = nlohmann::ordered_json;

struct JsonLimits {
  // Deepest nesting of arrays and objects accepted. Bitrix24 answers are a few
  // levels deep; protobuf clients refuse messages nested past 100 levels.
  size_t max_depth = 64;
  // Most values (scalars, arrays, objects) in one document.
  size_t max_values = 4'000'000;
};

// What went wrong, for callers that react to the limits differently.
enum class JsonError { kNone, kSyntax, kTooDeep, kTooManyValues };

struct JsonParse {
  Json value;
  JsonError error = JsonError::kNone;
  std::string message;  // empty when error == kNone
  bool ok() const { return error == JsonError::kNone; }
};

JsonParse ParseUntrustedJson(absl::string_view text, const JsonLimits& limits = {});

// Depth of the deepest array/object in `value` (0 for a scalar), computed
// without recursion.
size_t JsonDepth(const Json& value);

// Appends `key: value` to the object `object` without searching for `key`
// (callers guarantee keys are unique, e.g. they come from a map): linear
// where Json::operator[] would be quadratic.
void AppendUniqueKey(Json& object, std::string key, Json value);

}  // namespace b24::rest
