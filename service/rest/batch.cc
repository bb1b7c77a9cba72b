#include "service/rest/batch.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/status.h"
#include "service/rest/query.h"

namespace b24::rest {
namespace {

// One `$result[a][b]...` (or $next, $total, $time, $error) in a string.
struct Reference {
  size_t begin = 0, end = 0;  // [begin, end) in the string
  std::string kind;           // lower case
  std::vector<std::string> path;
};

// Finds the references in `s` with a linear scan (a regex here would recurse
// once per character on long input).
std::vector<Reference> FindReferences(const std::string& s) {
  std::vector<Reference> out;
  for (size_t at = s.find('$'); at != std::string::npos; at = s.find('$', at + 1)) {
    size_t name_end = at + 1;
    while (name_end < s.size() && absl::ascii_isalpha(s[name_end])) ++name_end;
    std::string kind = absl::AsciiStrToLower(s.substr(at + 1, name_end - at - 1));
    if (kind != "result" && kind != "next" && kind != "total" && kind != "time" && kind != "error") continue;
    Reference r{at, name_end, kind, {}};
    while (r.end < s.size() && s[r.end] == '[') {
      size_t close = s.find(']', r.end);
      if (close == std::string::npos) break;
      r.path.push_back(s.substr(r.end + 1, close - r.end - 1));
      r.end = close + 1;
    }
    if (r.path.empty()) continue;
    at = r.end - 1;
    out.push_back(std::move(r));
  }
  return out;
}

void CollectStrings(const Json& v, const std::function<void(const std::string&)>& f) {
  if (v.is_string()) {
    f(v.get<std::string>());
  } else if (v.is_structured()) {
    for (const auto& item : v) CollectStrings(item, f);
  }
}

// Looks up key `name` in a batch map that PHP may have encoded as a list.
const Json* Lookup(const Json& map, const std::string& name) {
  if (map.is_object()) {
    auto it = map.find(name);
    return it == map.end() ? nullptr : &*it;
  }
  uint64_t i;
  if (!map.is_array() || name.empty() || (name.size() > 1 && name[0] == '0') || !absl::SimpleAtoi(name, &i)) {
    return nullptr;
  }
  return i < map.size() ? &map[i] : nullptr;
}

// Resolves `$result[k][..]` references against results already known, the
// way the portal does: an exact reference is replaced by the raw value, an
// embedded one by its scalar text.
Json Resolve(const Json& v, const std::map<std::string, BatchCommandResult>& known) {
  if (v.is_structured()) {
    Json out = v;
    for (auto& item : out) item = Resolve(item, known);
    return out;
  }
  if (!v.is_string()) return v;
  const std::string s = v.get<std::string>();
  auto value_of = [&](const Reference& ref) -> std::optional<Json> {
    auto it = known.find(ref.path[0]);
    if (it == known.end()) return std::nullopt;
    const BatchCommandResult& r = it->second;
    Json cur;
    if (ref.kind == "result")
      cur = r.result;
    else if (ref.kind == "next")
      cur = r.next ? Json(*r.next) : Json();
    else if (ref.kind == "total")
      cur = r.total ? Json(*r.total) : Json();
    else if (ref.kind == "error")
      cur = r.state == BatchCommandResult::State::kError
                ? Json{{"error", r.error_code}, {"error_description", r.error_description}}
                : Json();
    else
      return std::nullopt;
    for (size_t i = 1; i < ref.path.size(); ++i) {
      const Json* next = Lookup(cur, ref.path[i]);
      if (!next) break;  // the portal stops at the deepest value found
      cur = *next;
    }
    return cur;
  };
  std::vector<Reference> refs = FindReferences(s);
  if (refs.size() == 1 && refs[0].begin == 0 && refs[0].end == s.size()) {
    auto value = value_of(refs[0]);
    return value ? *value : v;
  }
  std::string out;
  size_t begin = 0;
  for (const Reference& ref : refs) {
    out.append(s, begin, ref.begin - begin);
    auto value = value_of(ref);
    if (value && value->is_string())
      out += value->get<std::string>();
    else if (value && value->is_number())
      out += value->dump();
    else
      out.append(s, ref.begin, ref.end - ref.begin);
    begin = ref.end;
  }
  out.append(s, begin, std::string::npos);
  return out;
}

}  // namespace

struct BatchRunner::RunState {
  Portal portal;
  std::vector<BatchCommand> commands;
  bool halt = false;
  absl::Time deadline;
  BatchRunner::Done done;
  BatchResult out;
  std::map<std::string, BatchCommandResult> by_key;
  size_t next_chunk = 0;  // index of the first command of the next chunk
  bool halted = false;
};

namespace {

bool IsLimitError(const std::string& code) { return code == "QUERY_LIMIT_EXCEEDED" || code == "OPERATION_TIME_LIMIT"; }

}  // namespace

std::vector<std::string> BatchRunner::References(const Json& params) {
  std::vector<std::string> keys;
  CollectStrings(params, [&](const std::string& s) {
    for (const Reference& ref : FindReferences(s)) keys.push_back(ref.path[0]);
  });
  return keys;
}

absl::Status BatchRunner::Validate(const std::vector<BatchCommand>& commands) {
  auto invalid = [](std::string message) {
    return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_BATCH", message);
  };
  if (commands.empty()) return invalid("a batch needs at least one command");
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < commands.size(); ++i) {
    const BatchCommand& c = commands[i];
    if (c.key.empty() || c.key.size() > 100)
      return invalid(absl::StrCat("command #", i, " has no key (or a key over 100 characters)"));
    for (char ch : c.key) {
      if (!absl::ascii_isalnum(ch) && ch != '_') {
        return invalid(absl::StrCat("command key '", c.key, "' may contain only letters, digits and '_'"));
      }
    }
    if (!index.emplace(c.key, i).second) return invalid(absl::StrCat("command key '", c.key, "' is used twice"));
    if (!IsValidMethodName(c.method)) {
      return invalid(absl::StrCat("command '", c.key, "': '", c.method.substr(0, 100), "' is not a REST method name"));
    }
    if (absl::AsciiStrToLower(c.method) == "batch")
      return invalid(absl::StrCat("command '", c.key, "': batch cannot be nested"));
    if (!c.params.is_object() && !c.params.is_null()) {
      return invalid(absl::StrCat("command '", c.key, "': params must be a JSON object"));
    }
    for (const std::string& ref : References(c.params)) {
      auto it = index.find(ref);
      if (it == index.end() || it->second == i) {
        return invalid(absl::StrCat("command '", c.key, "' references '", ref,
                                    "', which is not an earlier command of this batch"));
      }
      if (it->second / kMaxBatchCommands != i / kMaxBatchCommands) {
        return invalid(absl::StrCat("command '", c.key, "' (#", i, ") references '", ref, "' (#", it->second,
                                    "), but commands are sent ", kMaxBatchCommands,
                                    " per request and references work only within one request; "
                                    "reorder the commands or split the batch"));
      }
    }
  }
  return absl::OkStatus();
}

std::vector<BatchCommandResult> BatchRunner::ParseBatchResult(const Json& result,
                                                              const std::vector<std::string>& keys) {
  static const Json kEmpty = Json::object();
  auto section = [&](const char* name) -> const Json& {
    if (!result.is_object()) return kEmpty;
    auto it = result.find(name);
    return it == result.end() ? kEmpty : *it;
  };
  const Json& ok = section("result");
  const Json& errors = section("result_error");
  const Json& totals = section("result_total");
  const Json& nexts = section("result_next");
  const Json& times = section("result_time");
  std::vector<BatchCommandResult> out;
  for (const std::string& key : keys) {
    BatchCommandResult r;
    r.key = key;
    if (const Json* e = Lookup(errors, key)) {
      r.state = BatchCommandResult::State::kError;
      if (e->is_object()) {
        r.error_code = JsonString(*e, "error");
        r.error_description = JsonString(*e, "error_description");
      } else {
        r.error_description = e->dump();
      }
    } else if (const Json* v = Lookup(ok, key)) {
      r.state = BatchCommandResult::State::kOk;
      r.result = *v;
    }
    r.total = JsonInt(Lookup(totals, key));
    r.next = JsonInt(Lookup(nexts, key));
    if (const Json* t = Lookup(times, key)) r.time = TimeInfo::FromJson(*t);
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status BatchRunner::CheckBatchEnvelope(const Json& result, const std::vector<std::string>& keys, bool halt) {
  auto bad = [](absl::string_view what) { return BadEnvelope("batch", 200, what); };
  if (!result.is_object()) return bad("a `result` that is not a batch result object");
  const Json* ok = JsonMember(result, "result");
  if (!ok || !ok->is_structured()) return bad("a `result` without the batch's `result` map");
  const Json* errors = JsonMember(result, "result_error");
  if (errors && !errors->is_structured()) return bad("a `result_error` that is not a map");
  static const Json kEmpty = Json::array();
  if (!errors) errors = &kEmpty;
  bool failed = false;
  for (const std::string& key : keys) {
    if (Lookup(*errors, key)) {
      failed = true;
      continue;
    }
    if (Lookup(*ok, key)) continue;
    if (halt && failed) continue;  // stopped by halt: surely not run
    return bad(
        absl::StrCat("no outcome for command '", key.substr(0, 100), "' (neither in result nor in result_error)"));
  }
  return absl::OkStatus();
}

std::vector<exec::OperatingSample> BatchRunner::OperatingSamples(const Json& result,
                                                                 const std::vector<BatchCommand>& commands) {
  // One sample per method: its latest operating figure and the server time all
  // its commands of this request cost together (what one more such request
  // will cost). A command refused with OPERATION_TIME_LIMIT carries no time:
  // it says the method is over its budget.
  std::map<std::string, exec::OperatingSample> by_method;
  const Json* times = result.is_object() && result.contains("result_time") ? &result["result_time"] : nullptr;
  const Json* errors = result.is_object() && result.contains("result_error") ? &result["result_error"] : nullptr;
  for (const BatchCommand& c : commands) {
    exec::OperatingSample& s = by_method[c.method];
    s.method = c.method;
    if (const Json* t = times ? Lookup(*times, c.key) : nullptr) {
      TimeInfo ti = TimeInfo::FromJson(*t);
      s.operating = std::max(s.operating, ti.operating);
      s.reset_at = std::max(s.reset_at, ti.operating_reset_at);
      s.cost += ti.processing;
    } else if (const Json* e = errors ? Lookup(*errors, c.key) : nullptr) {
      if (JsonString(*e, "error") == "OPERATION_TIME_LIMIT") s.operating = 1e9;
    }
  }
  std::vector<exec::OperatingSample> samples;
  for (auto& [method, s] : by_method) {
    if (s.operating > 0 || s.cost > 0 || s.reset_at > 0) samples.push_back(s);
  }
  return samples;
}

void BatchRunner::Run(const Portal& portal, std::vector<BatchCommand> commands, bool halt, absl::Time deadline,
                      Done done) {
  if (absl::Status s = Validate(commands); !s.ok()) {
    done(s);
    return;
  }
  auto st = std::make_shared<RunState>();
  st->portal = portal;
  st->commands = std::move(commands);
  st->halt = halt;
  st->deadline = deadline;
  st->done = std::move(done);
  SendChunk(st);
}

void BatchRunner::Finish(std::shared_ptr<RunState> st, absl::Status error) {
  if (!error.ok()) {
    st->done(error);
    return;
  }
  for (const BatchCommand& c : st->commands) {
    auto it = st->by_key.find(c.key);
    if (it != st->by_key.end()) {
      st->out.commands.push_back(std::move(it->second));
    } else {
      BatchCommandResult r;
      r.key = c.key;
      st->out.commands.push_back(std::move(r));  // not executed (halt)
    }
  }
  st->done(std::move(st->out));
}

void BatchRunner::SendChunk(std::shared_ptr<RunState> st) {
  if (st->halted || st->next_chunk >= st->commands.size()) {
    Finish(st, absl::OkStatus());
    return;
  }
  size_t begin = st->next_chunk;
  size_t end = std::min(st->commands.size(), begin + kMaxBatchCommands);
  std::vector<BatchCommand> chunk(st->commands.begin() + begin, st->commands.begin() + end);
  Json cmd = Json::object();
  RestClient::Options options;
  std::set<std::string> methods;
  for (BatchCommand& c : chunk) {
    // References to commands answered by earlier requests are resolved here,
    // the ones inside this request by the portal.
    c.params = Resolve(c.params, st->by_key);
    cmd[c.key] = absl::StrCat(c.method, "?", BuildQuery(c.params));
    methods.insert(c.method);
    options.idempotent = options.idempotent && IsReadOnlyMethod(c.method);
  }
  options.gated_methods.assign(methods.begin(), methods.end());
  options.operating = [chunk](const Envelope& env) { return OperatingSamples(env.result, chunk); };
  {
    std::vector<std::string> keys;
    for (const BatchCommand& c : chunk) keys.push_back(c.key);
    options.validate = [keys, halt = st->halt](const Envelope& env) {
      return CheckBatchEnvelope(env.result, keys, halt);
    };
  }
  st->out.http_requests++;
  client_.CallWith(st->portal, "batch", Json{{"halt", st->halt ? 1 : 0}, {"cmd", cmd}}, st->deadline, options,
                   [this, st, chunk, begin](absl::StatusOr<Envelope> env) {
                     if (!env.ok()) {
                       Finish(st, env.status());
                       return;
                     }
                     std::vector<std::string> keys;
                     for (const BatchCommand& c : chunk) keys.push_back(c.key);
                     std::vector<size_t> retry;  // indexes into st->commands
                     size_t resume = begin + chunk.size();
                     std::vector<BatchCommandResult> results = ParseBatchResult(env->result, keys);
                     for (size_t i = 0; i < results.size(); ++i) {
                       BatchCommandResult& r = results[i];
                       if (r.state == BatchCommandResult::State::kError && IsLimitError(r.error_code)) {
                         retry.push_back(begin + i);
                         if (st->halt) {  // the portal stopped here; continue after the retried command
                           resume = begin + i + 1;
                           break;
                         }
                         continue;
                       }
                       if (r.state == BatchCommandResult::State::kError && st->halt) st->halted = true;
                       if (r.state != BatchCommandResult::State::kNotExecuted) st->by_key[r.key] = std::move(r);
                     }
                     st->next_chunk = resume;
                     SendAlone(st, std::move(retry), 0);
                   });
}

void BatchRunner::SendAlone(std::shared_ptr<RunState> st, std::vector<size_t> indexes, size_t i) {
  if (i >= indexes.size()) {
    SendChunk(st);
    return;
  }
  const BatchCommand& c = st->commands[indexes[i]];
  Json params = Resolve(c.params, st->by_key);
  st->out.http_requests++;
  client_.Call(st->portal, c.method, params, st->deadline,
               [this, st, indexes = std::move(indexes), i, key = c.key](absl::StatusOr<Envelope> env) mutable {
                 BatchCommandResult r;
                 r.key = key;
                 if (env.ok()) {
                   r.state = BatchCommandResult::State::kOk;
                   r.result = std::move(env->result);
                   r.total = env->total;
                   r.next = env->next;
                   r.time = env->time;
                 } else {
                   auto detail = GetErrorDetail(env.status());
                   r.state = BatchCommandResult::State::kError;
                   r.error_code = detail ? detail->reason : std::string(absl::StatusCodeToString(env.status().code()));
                   r.error_description = detail && detail->metadata.count("error_description")
                                             ? detail->metadata["error_description"]
                                             : std::string(env.status().message());
                   if (st->halt) st->halted = true;
                 }
                 st->by_key[key] = std::move(r);
                 SendAlone(st, std::move(indexes), i + 1);
               });
}

}  // namespace b24::rest
