// Pure helpers of the emulated `batch` method (PROTOCOL.md §4): splitting a
// command string and substituting references to earlier commands' results.
// Thread-safe (no state).
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "tests/testing/emulator/php.h"

namespace b24::testing {

// "crm.deal.list?filter[>ID]=5" → method "crm.deal.list" (lower-cased), params
// parse_str("filter[>ID]=5") as an object (never a list).
void SplitBatchCommand(absl::string_view command, std::string* method, php::Json* params);

// Replaces $result[cmd][..], $next[cmd], $total[cmd], $time[cmd][..] and
// $error[cmd][..] (names case-insensitive) in every string value of `params`.
// `done` holds the maps built so far: {"result":{cmd:..}, "next":.., "total":..,
// "time":.., "error":..}. The path walk stops at the first missing key and
// uses the deepest value found. A value that is exactly one reference becomes
// the raw value (possibly an array); a reference inside a longer string is
// replaced only by a scalar value, otherwise left as written.
void SubstituteBatchReferences(php::Json* params, const php::Json& done);

// An object view of parse_str() output ("0","1" keys for a list).
php::Json AsPhpObject(php::Json value);

}  // namespace b24::testing
