// batch_fuzz: the batch envelope checks of b24::rest::BatchRunner on
// arbitrary JSON.
//
// The input is parsed with ParseUntrustedJson (default limits); when it is an
// object with a `result`, that is the batch's `result` (the input is a whole
// envelope), else the input itself is. The command keys are the keys of
// result.result (its indexes when PHP sent a list), at most 50 as in one
// request, plus "a", "b", "0", "1". Properties:
//   - CheckBatchEnvelope (halt true and false), ParseBatchResult,
//     OperatingSamples and References never crash or throw;
//   - when CheckBatchEnvelope accepts the answer with halt=false, no command
//     is reported as not executed, and the results come in key order;
//   - what is accepted with halt=false is accepted with halt=true.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/rest/batch.h"
#include "tests/fuzz/check.h"

namespace {

using b24::rest::BatchCommand;
using b24::rest::BatchCommandResult;
using b24::rest::BatchRunner;
using b24::rest::Json;

std::vector<std::string> Keys(const Json& result) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  auto add = [&](std::string k) {
    if (seen.insert(k).second) keys.push_back(std::move(k));
  };
  if (result.is_object()) {
    auto it = result.find("result");
    if (it != result.end() && it->is_object()) {
      for (auto& [k, v] : it->items()) {
        if (keys.size() >= b24::rest::kMaxBatchCommands) break;
        add(k);
      }
    } else if (it != result.end() && it->is_array()) {
      for (size_t i = 0; i < it->size() && i < b24::rest::kMaxBatchCommands; ++i) add(std::to_string(i));
    }
  }
  for (const char* k : {"a", "b", "0", "1"}) add(k);
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  b24::rest::JsonParse parsed =
      b24::rest::ParseUntrustedJson(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) return 0;
  const Json* result = &parsed.value;
  if (result->is_object()) {
    auto it = result->find("result");
    if (it != result->end() && it->is_object() && it->contains("result")) result = &*it;
  }
  std::vector<std::string> keys = Keys(*result);

  absl::Status loose = BatchRunner::CheckBatchEnvelope(*result, keys, /*halt=*/false);
  absl::Status halting = BatchRunner::CheckBatchEnvelope(*result, keys, /*halt=*/true);
  std::vector<BatchCommandResult> commands = BatchRunner::ParseBatchResult(*result, keys);
  FUZZ_CHECK(commands.size() == keys.size(), "one result per key");
  for (size_t i = 0; i < commands.size(); ++i) FUZZ_CHECK(commands[i].key == keys[i], "results in key order");
  if (loose.ok()) {
    FUZZ_CHECK(halting.ok(), "accepted without halt means accepted with halt");
    for (const BatchCommandResult& c : commands) {
      FUZZ_CHECK(c.state != BatchCommandResult::State::kNotExecuted,
                 "an accepted envelope without halt has an outcome for every command");
    }
  } else {
    FUZZ_CHECK(loose.code() == absl::StatusCode::kUnavailable, "a bad envelope is UNAVAILABLE");
  }
  if (!halting.ok()) FUZZ_CHECK(halting.code() == absl::StatusCode::kUnavailable, "a bad envelope is UNAVAILABLE");

  static const char* const kMethods[] = {"crm.deal.list", "crm.deal.get", "tasks.task.list"};
  std::vector<BatchCommand> cmds;
  for (size_t i = 0; i < keys.size(); ++i) cmds.push_back({keys[i], kMethods[i % 3], Json::object()});
  for (const b24::exec::OperatingSample& s : BatchRunner::OperatingSamples(*result, cmds)) {
    FUZZ_CHECK(!std::isnan(s.operating) && !std::isnan(s.cost), "operating samples are numbers");
    FUZZ_CHECK(s.reset_at >= 0, "a reset time is never negative");
  }
  (void)BatchRunner::References(parsed.value);
  return 0;
}
