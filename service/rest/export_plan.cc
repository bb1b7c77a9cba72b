#include "service/rest/export_plan.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/status.h"

namespace b24::rest {

ListShape ListShape::For(const std::string& method) {
  std::string m = absl::AsciiStrToLower(method);
  if (m == "tasks.task.list") return {"tasks", "id", "ID"};
  if (m == "crm.item.list" || m == "crm.stagehistory.list" || m == "crm.item.productrow.list" ||
      m == "crm.timeline.comment.list") {
    return {"items", "id", "id"};
  }
  return {"", "ID", "ID"};
}

std::string ListShape::LastIdReference(const std::string& key, int page_size) const {
  std::string last = absl::StrCat("[", page_size - 1, "][", id_item, "]");
  return wrapper.empty() ? absl::StrCat("$result[", key, "]", last)
                         : absl::StrCat("$result[", key, "][", wrapper, "]", last);
}

const Json* ListShape::ItemsOf(const Json& result) const {
  const Json* list = wrapper.empty() ? &result : JsonMember(result, wrapper);
  return list && list->is_array() ? list : nullptr;
}

bool ListShape::IdOf(const Json& item, int64_t* out) const {
  std::optional<int64_t> id = JsonInt(JsonMember(item, id_item));
  if (id) *out = *id;
  return id.has_value();
}

std::vector<IdRange> PlanRanges(size_t first_page_items, int64_t first_last, int64_t max_id, int64_t hi,
                                int max_parallel) {
  if (first_page_items < static_cast<size_t>(kPageSize)) return {};  // the first page was all of it
  if (max_id < first_last) return {{first_last, hi}};  // the highest ID vanished meanwhile: one open range
  int64_t span = max_id - first_last;
  int64_t want = std::min(max_parallel > 0 ? max_parallel : kAutoRanges, kMaxRanges);
  int64_t n = std::clamp<int64_t>((span + kMinRangeSpan - 1) / kMinRangeSpan, 1, want);
  std::vector<IdRange> ranges;
  for (int64_t k = 0; k < n; ++k) ranges.push_back({first_last + span * k / n, first_last + span * (k + 1) / n});
  return ranges;
}

int PagesForBatch(const IdRange& range, int64_t remaining) {
  int64_t pages = kPagesPerBatch;
  if (range.hi >= 0) pages = std::min<int64_t>(pages, (range.hi - range.last + kPageSize - 1) / kPageSize);
  if (remaining != INT64_MAX) pages = std::min<int64_t>(pages, (remaining + kPageSize - 1) / kPageSize);
  return static_cast<int>(std::max<int64_t>(pages, 1));
}

Json KeysetPageParams(const Json& base, const ListShape& shape, const Json& after, int64_t hi) {
  Json params = base;
  Json& f = params["filter"];
  if (!f.is_object()) f = Json::object();
  f[">" + shape.id_query] = after;
  if (hi >= 0) f["<=" + shape.id_query] = hi;
  params["order"] = Json{{shape.id_query, "ASC"}};
  params["start"] = -1;  // no COUNT
  return params;
}

KeysetScan ScanKeysetPages(const ListShape& shape, const std::string& method,
                           const std::vector<BatchCommandResult>& pages, const IdRange& range, int64_t room,
                           int page_size) {
  KeysetScan scan;
  scan.last = range.last;
  // Reads one page; false when the scan stops there.
  auto read_page = [&](const BatchCommandResult& page, bool first) -> bool {
    if (page.state == BatchCommandResult::State::kError) {
      // A limit refusal inside the batch: the executor now waits; resume from `last`.
      if (page.error_code != "OPERATION_TIME_LIMIT" && page.error_code != "QUERY_LIMIT_EXCEEDED") {
        scan.error = PortalError(page.error_code, page.error_description, 200, method);
      }
      return false;
    }
    if (page.state != BatchCommandResult::State::kOk) return false;
    const Json* list = shape.ItemsOf(page.result);
    if (!list) {
      scan.error = GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_EXPORT",
                                absl::StrCat(method, " did not return a list"));
      return false;
    }
    for (const Json& item : *list) {
      if (static_cast<int64_t>(scan.items.size()) >= room) return false;
      int64_t id;
      if (!shape.IdOf(item, &id) || id <= scan.last) {
        // Out of order: stop, and continue from the last good ID next time —
        // unless nothing at all came in order.
        if (first && scan.items.empty()) {
          scan.error = absl::InternalError(absl::StrCat(method, " returned items out of ID order"));
        }
        return false;
      }
      if (range.hi >= 0 && id > range.hi) {
        scan.range_done = true;
        return false;
      }
      scan.last = id;
      scan.items.push_back(item);
    }
    if (list->size() < static_cast<size_t>(page_size)) {  // a short page: the list ended
      scan.range_done = true;
      return false;
    }
    return true;
  };
  for (size_t i = 0; i < pages.size() && read_page(pages[i], i == 0);) ++i;
  if (range.hi >= 0 && scan.last >= range.hi) scan.range_done = true;
  return scan;
}

}  // namespace b24::rest
