// ListExport: every item of a Bitrix24 list method with the fewest HTTP requests.
//
// Keyset mode (the default whenever the method can be ordered by ID):
// `start=-1` (no COUNT), filter `>ID` from the last ID seen, and 50 pages
// chained in one batch request through `$result[pN][49][ID]` references —
// about 2,500 items an HTTP request. Large ID spans are split into up to
// `max_parallel_ranges` ranges exported concurrently (one probe request finds
// the span). Nested results are unwrapped (`crm.item.list` → items/id,
// `tasks.task.list` → tasks with `ID` for filter and order).
// Offset mode (fallback when the caller orders by another field): a first
// page learns `total`, then `start` offsets, 50 pages a batch.
//
// Flow control: the exporter keeps at most a few chunks buffered; it sends no
// further request until the consumer has taken them with Next(), so a slow
// client slows the export and memory stays bounded. Every chunk carries a
// cursor; a new export given that cursor continues after the chunk's items.
// Cursors are signed and bound to the portal, the method and the params
// (export_cursor.h): a cursor of another export is INVALID_ARGUMENT.
//
// Thread-safety: all methods from any thread. `on_ready` is called (without
// locks held, from any thread) whenever Next() may return something new.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/rest/batch.h"
#include "service/rest/export_cursor.h"
#include "service/rest/export_plan.h"
#include "service/rest/query.h"

namespace b24::rest {

struct ExportRequest {
  std::string method;
  Json params = Json::object();
  int64_t limit = 0;            // 0 = all
  std::string cursor;           // resume after this cursor
  int max_parallel_ranges = 0;  // 0 = decide (up to 4), 1 = sequential
};

struct ExportChunk {
  std::vector<Json> items;
  std::string cursor;
};

class ListExport : public std::enable_shared_from_this<ListExport> {
 public:
  // `cursors` signs and checks the cursors (must outlive the export).
  static std::shared_ptr<ListExport> Start(RestClient& client, const ExportCursor& cursors, const Portal& portal,
                                           ExportRequest request, absl::Time deadline, std::function<void()> on_ready);

  enum class Poll { kChunk, kWait, kDone };
  // Takes the next chunk (kChunk), or says to wait for on_ready (kWait), or
  // that the export is over (kDone; status() tells how).
  Poll Next(ExportChunk* out);
  absl::Status status();
  // Stops sending requests (client went away).
  void Cancel();

  int http_requests();

 private:
  struct Range {
    int64_t last = 0;  // items with ID > last are still to come
    int64_t hi = -1;   // inclusive upper bound; -1 = none
    bool done = false;
    bool busy = false;  // a request is in flight
  };

  ListExport(RestClient& client, const ExportCursor& cursors, Portal portal, ExportRequest request, absl::Time deadline,
             std::function<void()> on_ready);
  void Begin();
  void Pump() ABSL_LOCKS_EXCLUDED(mu_);  // sends what the credit allows
  void SendKeyset(size_t range) ABSL_LOCKS_EXCLUDED(mu_);
  void SendOffset() ABSL_LOCKS_EXCLUDED(mu_);
  void Probe() ABSL_LOCKS_EXCLUDED(mu_);
  void Fail(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  void Deliver(std::vector<Json> items) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string CursorLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Json ParamsWithout() const;  // caller params minus start/order/ID filters
  void Notify();
  std::function<bool()> CancelledCheck();  // for requests still queued in the executor

  RestClient& client_;
  const ExportCursor& cursors_;
  ExportIdentity identity_;  // what this export's cursors are bound to
  BatchRunner batch_;
  Portal portal_;
  ExportRequest request_;
  absl::Time deadline_;
  std::function<void()> on_ready_;
  ListShape shape_;

  mutable absl::Mutex mu_;
  bool keyset_ ABSL_GUARDED_BY(mu_) = true;
  // The caller's own ID bounds (exclusive lo, inclusive hi); set by Begin(), then read only.
  int64_t lo_ = 0, hi_ = -1;
  std::vector<Range> ranges_ ABSL_GUARDED_BY(mu_);
  int64_t offset_ ABSL_GUARDED_BY(mu_) = 0;  // offset mode
  int64_t total_ ABSL_GUARDED_BY(mu_) = -1;
  bool offset_busy_ ABSL_GUARDED_BY(mu_) = false;
  int64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<ExportChunk> ready_ ABSL_GUARDED_BY(mu_);
  size_t max_buffered_ ABSL_GUARDED_BY(mu_) = 2;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  int http_requests_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace b24::rest
