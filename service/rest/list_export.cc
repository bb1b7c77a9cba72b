#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/rest/list_export.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/status.h"

namespace b24::rest {
namespace {

absl::Status Invalid(absl::string_view message) {
  return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_EXPORT", message);
}

bool ToInt(const Json& v, int64_t* out) {
  std::optional<int64_t> i = JsonInt(&v);
  if (i) *out = *i;
  return i.has_value();
}

}  // namespace

std::shared_ptr<ListExport> ListExport::Start(RestClient& client, const ExportCursor& cursors, const Portal& portal,
                                              ExportRequest request, absl::Time deadline,
                                              std::function<void()> on_ready) {
  std::shared_ptr<ListExport> e(
      new ListExport(client, cursors, portal, std::move(request), deadline, std::move(on_ready)));
  e->Begin();
  return e;
}

ListExport::ListExport(RestClient& client, const ExportCursor& cursors, Portal portal, ExportRequest request,
                       absl::Time deadline, std::function<void()> on_ready)
    : client_(client),
      cursors_(cursors),
      batch_(client),
      portal_(std::move(portal)),
      request_(std::move(request)),
      deadline_(deadline),
      on_ready_(std::move(on_ready)),
      shape_(ListShape::For(request_.method)) {
  // OAuth portals keep their member_id across renames; webhooks are their host.
  identity_.portal = portal_.tokens ? "member:" + portal_.id : "host:" + portal_.host;
  identity_.method = request_.method;
  identity_.params_digest = ExportCursor::ParamsDigest(request_.params);
}

void ListExport::Notify() {
  if (on_ready_) on_ready_();
}

void ListExport::Fail(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    status_ = std::move(status);
    finished_ = true;
  }
  Notify();
}

absl::Status ListExport::status() {
  absl::MutexLock lock(&mu_);
  return status_;
}

int ListExport::http_requests() {
  absl::MutexLock lock(&mu_);
  return http_requests_;
}

std::function<bool()> ListExport::CancelledCheck() {
  std::weak_ptr<ListExport> weak = weak_from_this();
  return [weak] {
    auto self = weak.lock();
    if (!self) return true;
    absl::MutexLock lock(&self->mu_);
    return self->cancelled_;
  };
}

void ListExport::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  finished_ = true;
  ready_.clear();
}

Json ListExport::ParamsWithout() const {
  Json p = request_.params;
  p.erase("start");
  p.erase("order");
  p.erase("ORDER");
  for (const char* f : {"filter", "FILTER"}) {
    if (!p.contains(f)) continue;
    Json& filter = p[f];
    if (!filter.is_object()) continue;
    for (const char* op : {">", ">=", "<", "<="}) filter.erase(absl::StrCat(op, shape_.id_query));
  }
  return p;
}

void ListExport::Begin() {
  const Json& params = request_.params;
  if (!IsValidMethodName(request_.method)) return Fail(Invalid("method is not a REST method name"));
  if (!params.is_object()) return Fail(Invalid("params must be a JSON object"));
  if (params.contains("start")) return Fail(Invalid("params.start is managed by GetAll; remove it"));
  if (request_.limit < 0) return Fail(Invalid("limit must not be negative"));
  if (request_.max_parallel_ranges < 0 || request_.max_parallel_ranges > kMaxRanges) {
    return Fail(Invalid(absl::StrCat("max_parallel_ranges must be between 0 (let the gateway decide) and ", kMaxRanges,
                                     ", got ", request_.max_parallel_ranges)));
  }
  // Keyset needs the order to be by ID ascending (or unspecified) and numeric ID bounds.
  bool keyset = true;
  const Json* order = params.contains("order")   ? &params["order"]
                      : params.contains("ORDER") ? &params["ORDER"]
                                                 : nullptr;
  if (order && !order->empty()) {
    keyset = order->is_object() && order->size() == 1 &&
             absl::AsciiStrToLower(order->begin().key()) == absl::AsciiStrToLower(shape_.id_query) &&
             order->begin()->is_string() && absl::AsciiStrToUpper(order->begin()->get<std::string>()) == "ASC";
  }
  const Json* filter = params.contains("filter")   ? &params["filter"]
                       : params.contains("FILTER") ? &params["FILTER"]
                                                   : nullptr;
  if (filter && filter->is_object()) {
    for (const auto& [key, value] : filter->items()) {
      std::string op = key.substr(0, key.size() - std::min(key.size(), shape_.id_query.size()));
      if (key.size() <= shape_.id_query.size() || key.substr(op.size()) != shape_.id_query) continue;
      if (op != ">" && op != ">=" && op != "<" && op != "<=") continue;
      int64_t v;
      if (!ToInt(value, &v)) {
        keyset = false;  // a bound we cannot reason about: let the portal apply it
        continue;
      }
      if (op == ">") lo_ = std::max(lo_, v);
      if (op == ">=") lo_ = std::max(lo_, v - 1);
      if (op == "<") hi_ = hi_ < 0 ? v - 1 : std::min(hi_, v - 1);
      if (op == "<=") hi_ = hi_ < 0 ? v : std::min(hi_, v);
    }
  }
  std::optional<ExportPosition> resume;
  if (!request_.cursor.empty()) {
    absl::StatusOr<ExportPosition> pos = cursors_.Decode(request_.cursor, identity_);
    if (!pos.ok()) return Fail(pos.status());
    if (pos->keyset != keyset) {
      return Fail(GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_CURSOR",
                               "the GetAll cursor belongs to an export in another paging mode"));
    }
    resume = *std::move(pos);
  }
  bool probe = !resume && keyset && request_.limit == 0 && request_.max_parallel_ranges != 1;
  {
    absl::MutexLock lock(&mu_);
    keyset_ = keyset;
    if (resume) {
      delivered_ = resume->delivered;
      for (const auto& [last, hi] : resume->ranges) ranges_.push_back({last, hi});
      offset_ = resume->offset;
      total_ = resume->total;
      max_buffered_ = std::max<size_t>(2, ranges_.size() + 1);
    } else if (keyset && !probe) {
      ranges_.push_back({lo_, hi_});
    }
    started_ = !probe;  // a probe starts the export when it has planned the ranges
  }
  if (probe) {
    Probe();
  } else {
    Pump();
  }
}

// One request finds the first page and the highest ID; the span is then split
// into ranges exported in parallel. The first page is delivered as it is.
void ListExport::Probe() {
  Json base = ParamsWithout();
  auto command = [&](const char* direction) {
    Json p = base;
    Json& f = p["filter"];
    if (!f.is_object()) f = Json::object();
    f[">" + shape_.id_query] = lo_;
    if (hi_ >= 0) f["<=" + shape_.id_query] = hi_;
    p["order"] = Json{{shape_.id_query, direction}};
    p["start"] = -1;
    return absl::StrCat(request_.method, "?", BuildQuery(p));
  };
  Json cmd = {{"first", command("ASC")}, {"last", command("DESC")}};
  RestClient::Options options;
  options.gated_methods = {request_.method};
  options.cancelled = CancelledCheck();
  std::string method = request_.method;
  options.operating = [method](const Envelope& env) {
    return BatchRunner::OperatingSamples(env.result, {{"first", method, {}}, {"last", method, {}}});
  };
  options.validate = [](const Envelope& env) {
    return BatchRunner::CheckBatchEnvelope(env.result, {"first", "last"}, /*halt=*/false);
  };
  {
    absl::MutexLock lock(&mu_);
    http_requests_++;
  }
  auto self = shared_from_this();
  client_.CallWith(
      portal_, "batch", Json{{"halt", 0}, {"cmd", cmd}}, deadline_, options, [self](absl::StatusOr<Envelope> env) {
        if (!env.ok()) return self->Fail(env.status());
        auto pages = BatchRunner::ParseBatchResult(env->result, {"first", "last"});
        std::vector<Json> items[2];
        for (int i = 0; i < 2; ++i) {
          if (pages[i].state != BatchCommandResult::State::kOk) {
            return self->Fail(PortalError(pages[i].error_code, pages[i].error_description, 200, self->request_.method));
          }
          const Json* list = self->shape_.ItemsOf(pages[i].result);
          if (!list) {
            return self->Fail(
                Invalid(absl::StrCat(self->request_.method, " did not return a list; GetAll needs a list method")));
          }
          items[i] = list->get<std::vector<Json>>();
        }
        // The span between the first page's last ID and the highest ID.
        int64_t first_last = 0, max_id = -1;
        bool ok = items[0].empty() || self->shape_.IdOf(items[0].back(), &first_last);
        if (ok && !items[1].empty() && !self->shape_.IdOf(items[1].front(), &max_id)) ok = false;
        {
          absl::MutexLock lock(&self->mu_);
          if (!ok) {
            // IDs are not numbers: fall back to one sequential offset export.
            self->keyset_ = false;
          } else {
            for (const IdRange& r :
                 PlanRanges(items[0].size(), first_last, max_id, self->hi_, self->request_.max_parallel_ranges)) {
              self->ranges_.push_back({r.last, r.hi});
            }
          }
          self->max_buffered_ = std::max<size_t>(2, self->ranges_.size() + 1);
          self->started_ = true;
          if (ok) self->Deliver(std::move(items[0]));
        }
        self->Notify();
        self->Pump();
      });
}

void ListExport::Deliver(std::vector<Json> items) {
  // Callers keep within `limit` themselves: the cursor must match what was kept.
  if (items.empty()) return;
  delivered_ += static_cast<int64_t>(items.size());
  ready_.push_back({std::move(items), CursorLocked()});
}

std::string ListExport::CursorLocked() const {
  ExportPosition pos;
  pos.keyset = keyset_;
  pos.delivered = delivered_;
  for (const Range& range : ranges_) {
    if (!range.done) pos.ranges.emplace_back(range.last, range.hi);
  }
  pos.offset = offset_;
  pos.total = total_;
  return cursors_.Encode(identity_, pos);
}

ListExport::Poll ListExport::Next(ExportChunk* out) {
  Poll result;
  {
    absl::MutexLock lock(&mu_);
    if (!ready_.empty()) {
      *out = std::move(ready_.front());
      ready_.pop_front();
      result = Poll::kChunk;
    } else if (finished_ || !status_.ok()) {
      return Poll::kDone;
    } else {
      result = Poll::kWait;
    }
  }
  if (result == Poll::kChunk) Pump();  // a buffer slot freed up
  return result;
}

void ListExport::Pump() {
  std::vector<size_t> to_send;
  bool send_offset = false, notify = false;
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || finished_) return;
    bool limit_reached = request_.limit > 0 && delivered_ >= request_.limit;
    size_t busy = offset_busy_ ? 1 : 0;
    for (const Range& r : ranges_) busy += r.busy;
    size_t credit = max_buffered_ > ready_.size() + busy ? max_buffered_ - ready_.size() - busy : 0;
    bool more = false;
    if (keyset_) {
      for (size_t i = 0; i < ranges_.size(); ++i) {
        Range& r = ranges_[i];
        if (r.done) continue;
        more = true;
        if (r.busy || limit_reached || credit == 0) continue;
        r.busy = true;
        --credit;
        to_send.push_back(i);
      }
    } else {
      more = total_ < 0 || offset_ < total_;
      if (more && !offset_busy_ && !limit_reached && credit > 0) {
        offset_busy_ = true;
        send_offset = true;
      }
    }
    if ((!more || limit_reached) && busy == 0 && to_send.empty() && !send_offset) {
      finished_ = true;
      notify = true;
    }
  }
  if (notify) Notify();
  for (size_t i : to_send) SendKeyset(i);
  if (send_offset) SendOffset();
}

void ListExport::SendKeyset(size_t index) {
  Json base = ParamsWithout();
  IdRange range;
  int64_t remaining;
  {
    absl::MutexLock lock(&mu_);
    range = {ranges_[index].last, ranges_[index].hi};
    remaining = request_.limit > 0 ? request_.limit - delivered_ : INT64_MAX;
    http_requests_++;
  }
  // Pages chained through the previous page's last ID: one request, up to 2,500 items.
  Json cmd = Json::object();
  std::vector<BatchCommand> commands;
  int pages = PagesForBatch(range, remaining);
  for (int p = 0; p < pages; ++p) {
    std::string key = absl::StrCat("p", p);
    Json after = p == 0 ? Json(range.last) : Json(shape_.LastIdReference(absl::StrCat("p", p - 1)));
    cmd[key] = absl::StrCat(request_.method, "?", BuildQuery(KeysetPageParams(base, shape_, after, range.hi)));
    commands.push_back({key, request_.method, {}});
  }
  std::vector<std::string> keys;
  for (const auto& c : commands) keys.push_back(c.key);
  RestClient::Options options;
  options.gated_methods = {request_.method};
  options.cancelled = CancelledCheck();
  options.operating = [commands](const Envelope& env) { return BatchRunner::OperatingSamples(env.result, commands); };
  options.validate = [keys](const Envelope& env) {
    return BatchRunner::CheckBatchEnvelope(env.result, keys, /*halt=*/false);
  };
  auto self = shared_from_this();
  client_.CallWith(
      portal_, "batch", Json{{"halt", 0}, {"cmd", cmd}}, deadline_, options,
      [self, index, keys](absl::StatusOr<Envelope> env) {
        if (!env.ok()) return self->Fail(env.status());
        std::vector<BatchCommandResult> pages = BatchRunner::ParseBatchResult(env->result, keys);
        absl::Status error;
        {
          absl::MutexLock lock(&self->mu_);
          Range& r = self->ranges_[index];
          // Keep no more than the limit allows, so the cursor never skips an item.
          int64_t room = self->request_.limit > 0 ? self->request_.limit - self->delivered_ : INT64_MAX;
          KeysetScan scan = ScanKeysetPages(self->shape_, self->request_.method, pages, {r.last, r.hi}, room);
          r.last = scan.last;
          r.busy = false;
          r.done = scan.range_done;
          error = scan.error;
          if (error.ok()) self->Deliver(std::move(scan.items));
        }
        if (!error.ok()) return self->Fail(error);
        self->Notify();
        self->Pump();
      });
}

void ListExport::SendOffset() {
  Json base = request_.params;
  base.erase("start");
  int64_t offset, total, remaining;
  {
    absl::MutexLock lock(&mu_);
    offset = offset_;
    total = total_;
    remaining = request_.limit > 0 ? request_.limit - delivered_ : INT64_MAX;
  }
  auto self = shared_from_this();
  if (total < 0) {  // first page: learn the total
    {
      absl::MutexLock lock(&mu_);
      http_requests_++;
    }
    Json params = base;
    params["start"] = offset;
    client_.Call(portal_, request_.method, params, deadline_, [self, offset](absl::StatusOr<Envelope> env) {
      if (!env.ok()) return self->Fail(env.status());
      const Json* list = self->shape_.ItemsOf(env->result);
      if (!list) return self->Fail(Invalid(absl::StrCat(self->request_.method, " did not return a list")));
      {
        absl::MutexLock lock(&self->mu_);
        std::vector<Json> items = list->get<std::vector<Json>>();
        self->total_ = env->total.value_or(offset + static_cast<int64_t>(items.size()));
        if (items.empty()) self->total_ = std::min(self->total_, offset);
        if (self->request_.limit > 0) {
          items.resize(std::min<int64_t>(items.size(), self->request_.limit - self->delivered_));
        }
        self->offset_ = offset + static_cast<int64_t>(items.size());
        self->offset_busy_ = false;
        self->Deliver(std::move(items));
      }
      self->Notify();
      self->Pump();
    });
    return;
  }
  // As many offset pages as the total and the limit leave, a batch's worth at most.
  int pages = PagesForBatch({offset, total}, remaining);  // offsets [offset, total)
  std::vector<BatchCommand> commands;
  for (int p = 0; p < pages; ++p) {
    Json params = base;
    params["start"] = offset + int64_t{p} * kPageSize;
    commands.push_back({absl::StrCat("o", p), request_.method, params});
  }
  batch_.Run(portal_, commands, false, deadline_, [self](absl::StatusOr<BatchResult> result) {
    if (!result.ok()) return self->Fail(result.status());
    std::vector<Json> items;
    bool short_page = false;
    for (const BatchCommandResult& page : result->commands) {
      if (page.state != BatchCommandResult::State::kOk) {
        return self->Fail(PortalError(page.error_code, page.error_description, 200, self->request_.method));
      }
      const Json* list = self->shape_.ItemsOf(page.result);
      if (!list) return self->Fail(Invalid(absl::StrCat(self->request_.method, " did not return a list")));
      for (const Json& item : *list) items.push_back(item);
      if (list->size() < static_cast<size_t>(kPageSize)) {
        short_page = true;
        break;
      }
    }
    {
      absl::MutexLock lock(&self->mu_);
      self->http_requests_ += result->http_requests;  // the batch runner's own requests
      if (self->request_.limit > 0) {
        items.resize(std::min<int64_t>(items.size(), self->request_.limit - self->delivered_));
      }
      // Offsets advance by what is delivered, so a cursor never skips an item.
      self->offset_ += static_cast<int64_t>(items.size());
      if (short_page) self->total_ = std::min(self->total_, self->offset_);  // the list ended early
      self->offset_busy_ = false;
      self->Deliver(std::move(items));
    }
    self->Notify();
    self->Pump();
  });
}

}  // namespace b24::rest
