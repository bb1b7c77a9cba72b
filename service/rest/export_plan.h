// Export planning: the pure decisions of a GetAll export, apart from the
// callbacks that send requests (list_export.cc), so each is tested alone.
//
//   - ListShape: how a list method nests its items and names its ID;
//   - PlanRanges: how the span found by the probe is split into ID ranges
//     exported in parallel;
//   - PagesForBatch: how many chained pages one batch asks for;
//   - KeysetPageParams: the params of one chained page;
//   - ScanKeysetPages: what a batch of chained pages delivers, where the range
//     continues, whether it is done, and which answers are errors.
// No I/O, no locks, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "service/rest/batch.h"
#include "service/rest/export_cursor.h"

namespace b24::rest {

// Items per page of a classic list method: Bitrix24's fixed page size.
inline constexpr int kPageSize = 50;
// Chained pages per batch request: the portal's batch limit.
inline constexpr int kPagesPerBatch = static_cast<int>(kMaxBatchCommands);
// A parallel range spans at least this many IDs: fewer would spend requests
// on ranges that hold a page or two.
inline constexpr int64_t kMinRangeSpan = 25'000;
// Ranges when the caller leaves it to the gateway.
inline constexpr int kAutoRanges = 4;
// At most this many ranges: memory holds ranges + 1 chunks.
inline constexpr int kMaxRanges = static_cast<int>(ExportCursor::kMaxRanges);

// How a list method nests its items and names its ID (PROTOCOL.md §5.4).
struct ListShape {
  std::string wrapper;   // "" = result is the list; else result[wrapper]
  std::string id_item;   // ID key in items ("ID", "id")
  std::string id_query;  // ID key in filter and order ("ID", "id")
  static ListShape For(const std::string& method);

  // The reference to the last item's ID of the page answered under `key`,
  // e.g. "$result[p3][49][ID]" ("[items][49][id]" for crm.item.list).
  std::string LastIdReference(const std::string& key, int page_size = kPageSize) const;
  // The item list of a page's result; null when it is not shaped like a list.
  const Json* ItemsOf(const Json& result) const;
  // The numeric ID of an item; false when it has none.
  bool IdOf(const Json& item, int64_t* out) const;
};

// An ID range: items with last < ID <= hi (hi = -1: no upper bound).
struct IdRange {
  int64_t last = 0;
  int64_t hi = -1;
};

// The ranges to export after the probe saw `first_page_items` items on the
// first page (the last of them `first_last`) and the highest ID `max_id`.
// Empty when the first page was the whole list. `max_parallel`: the caller's
// max_parallel_ranges (0 = kAutoRanges).
std::vector<IdRange> PlanRanges(size_t first_page_items, int64_t first_last, int64_t max_id, int64_t hi,
                                int max_parallel);

// Pages one batch asks for: no more than the range and the caller's limit can
// fill. `remaining`: items still wanted, or INT64_MAX.
int PagesForBatch(const IdRange& range, int64_t remaining);

// Params of one keyset page: the caller's params (without start/order/ID
// bounds), ordered by ID, after `after` (a number, or a reference to the
// previous page's last ID), within `hi`.
Json KeysetPageParams(const Json& base, const ListShape& shape, const Json& after, int64_t hi);

struct KeysetScan {
  std::vector<Json> items;  // to deliver, in order
  int64_t last = 0;         // the range continues after this ID
  bool range_done = false;  // the range holds no more items
  absl::Status error;       // the export fails with it
};

// Reads the chained pages of one batch for a range that continued after
// `range.last`. Stops at the first page that errs, is missing, or breaks the
// ID order (the range resumes from the last good ID; a limit refusal is no
// error — the executor waits), and once `room` items are taken (a caller's
// limit: the cursor must not claim items that were not kept).
KeysetScan ScanKeysetPages(const ListShape& shape, const std::string& method,
                           const std::vector<BatchCommandResult>& pages, const IdRange& range, int64_t room,
                           int page_size = kPageSize);

}  // namespace b24::rest
