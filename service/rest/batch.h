// BatchRunner: runs named commands through Bitrix24's `batch` method.
//
// Commands go 50 to an HTTP request (the portal's limit), in order, each chunk
// after the previous one so `halt` and `$result[key]` references keep their
// meaning; a reference to a command of an earlier chunk is rejected up front
// (INVALID_ARGUMENT), since the portal resolves references only inside one
// request. Commands that failed inside a batch with QUERY_LIMIT_EXCEEDED or
// OPERATION_TIME_LIMIT are sent again alone (paced by the executor, references
// already resolved from the results at hand); the other commands are never
// repeated. Each command's `time` feeds the executor's operating tracker under
// the command's own method.
//
// Thread-safety: Run() from any thread; `done` runs once on a transport or
// clock thread.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "service/rest/client.h"

namespace b24::rest {

struct BatchCommand {
  std::string key;
  std::string method;
  Json params = Json::object();
};

struct BatchCommandResult {
  std::string key;
  enum class State { kOk, kError, kNotExecuted } state = State::kNotExecuted;
  Json result;
  std::string error_code, error_description;
  std::optional<int64_t> total, next;
  TimeInfo time;
};

struct BatchResult {
  std::vector<BatchCommandResult> commands;  // request order
  int http_requests = 0;
};

inline constexpr size_t kMaxBatchCommands = 50;

class BatchRunner {
 public:
  using Done = std::function<void(absl::StatusOr<BatchResult>)>;
  explicit BatchRunner(RestClient& client) : client_(client) {}

  void Run(const Portal& portal, std::vector<BatchCommand> commands, bool halt, absl::Time deadline, Done done);

  // Validation alone (keys, methods, cross-chunk references).
  static absl::Status Validate(const std::vector<BatchCommand>& commands);

  // Keys referenced by `$result[key]`, `$next[key]`, ... in string values of `params`.
  static std::vector<std::string> References(const Json& params);

  // OK when `result` (the `result` of a `batch` envelope) is truly a batch
  // result for `keys`: an object with the `result` map (object, or [] when
  // empty), and an outcome (result or result_error) for every key — except,
  // with `halt`, the keys after the first failed one, which did not run.
  // Anything else is UNAVAILABLE UPSTREAM_BAD_RESPONSE: an answer that is not
  // a batch envelope must never be reported as commands "not executed".
  static absl::Status CheckBatchEnvelope(const Json& result, const std::vector<std::string>& keys, bool halt);

  // Parses the `result` of a batch envelope into per-command results for `keys`.
  static std::vector<BatchCommandResult> ParseBatchResult(const Json& result, const std::vector<std::string>& keys);

  // Operating-time samples of every command of a batch envelope.
  static std::vector<exec::OperatingSample> OperatingSamples(const Json& result,
                                                             const std::vector<BatchCommand>& commands);

 private:
  struct RunState;
  void SendChunk(std::shared_ptr<RunState> st);
  void SendAlone(std::shared_ptr<RunState> st, std::vector<size_t> indexes, size_t i);
  void Finish(std::shared_ptr<RunState> st, absl::Status error);
  RestClient& client_;
};

}  // namespace b24::rest
