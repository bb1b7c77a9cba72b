#include "tests/testing/emulator/entity_store.h"

#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace b24::testing {
namespace {

constexpr int64_t kMaxId = std::numeric_limits<int64_t>::max() - 1;

// Splits a filter key into its operator prefix and the field name.
std::pair<std::string, std::string> SplitOp(const std::string& key) {
  static const char* const kOps[] = {">=", "<=", "!@", "!=", ">", "<", "=", "@", "!", "%"};
  for (const char* op : kOps) {
    if (absl::StartsWith(key, op)) return {op, key.substr(absl::string_view(op).size())};
  }
  return {"", key};
}

std::vector<php::Json> Values(const php::Json& v) {
  std::vector<php::Json> out;
  if (v.is_array() || v.is_object()) {
    for (const auto& e : v) out.push_back(e);
  } else {
    out.push_back(v);
  }
  return out;
}

// Compares numerically when both sides are numbers, else as strings.
int Compare(const php::Json& a, const php::Json& b) {
  std::string sa, sb;
  php::ToScalarString(a, &sa);
  php::ToScalarString(b, &sb);
  double da, db;
  if (absl::SimpleAtod(sa, &da) && absl::SimpleAtod(sb, &db)) return da < db ? -1 : da > db ? 1 : 0;
  return sa.compare(sb) < 0 ? -1 : sa == sb ? 0 : 1;
}

const php::Json* FindField(const php::Json& row, const std::string& field_key) {
  for (auto it = row.begin(); it != row.end(); ++it) {
    if (php::FieldKey(it.key()) == field_key) return &it.value();
  }
  return nullptr;
}

}  // namespace

// A parsed `filter`: a range and optional set on the ID, plus other conditions.
struct EntityStore::Filter {
  struct Condition {
    std::string op;
    std::string field;  // php::FieldKey form
    php::Json value;
  };
  int64_t lo = 1;
  int64_t hi = kMaxId;
  std::optional<std::set<int64_t>> ids;  // @ID
  std::vector<Condition> conditions;     // everything else (needs a scan)

  Filter(const php::Json& filter, const std::string& id_key) {
    if (!filter.is_object()) return;
    for (auto it = filter.begin(); it != filter.end(); ++it) {
      auto [op, field] = SplitOp(it.key());
      const php::Json& v = it.value();
      bool list = v.is_array() || v.is_object();
      if (php::FieldKey(field) != id_key || op == "!" || op == "!=" || op == "!@" || op == "%") {
        conditions.push_back({op, php::FieldKey(field), v});
        continue;
      }
      if (op == "@" || ((op.empty() || op == "=") && list)) {
        std::set<int64_t> s;
        for (const auto& e : Values(v)) {
          if (!ids.has_value() || ids->count(php::ToInt(e))) s.insert(php::ToInt(e));
        }
        ids = std::move(s);
        continue;
      }
      int64_t n = php::ToInt(v);
      if (op == ">") lo = std::max(lo, n == kMaxId ? kMaxId : n + 1);
      if (op == ">=") lo = std::max(lo, n);
      if (op == "<") hi = std::min(hi, n == std::numeric_limits<int64_t>::min() ? n : n - 1);
      if (op == "<=") hi = std::min(hi, n);
      if (op.empty() || op == "=") {
        lo = std::max(lo, n);
        hi = std::min(hi, n);
      }
    }
    lo = std::max<int64_t>(lo, 1);
  }

  bool Matches(const php::Json& row) const {
    for (const auto& c : conditions) {
      const php::Json* field = FindField(row, c.field);
      php::Json value = field != nullptr ? *field : php::Json("");
      bool any = false;
      for (const auto& e : Values(c.value)) {
        int cmp = Compare(value, e);
        if (c.op.empty() || c.op == "=" || c.op == "@") any = any || cmp == 0;
        if (c.op == "!" || c.op == "!=" || c.op == "!@") any = any || cmp == 0;
        if (c.op == ">") any = any || cmp > 0;
        if (c.op == ">=") any = any || cmp >= 0;
        if (c.op == "<") any = any || cmp < 0;
        if (c.op == "<=") any = any || cmp <= 0;
        if (c.op == "%") {
          std::string hay, needle;
          php::ToScalarString(value, &hay);
          php::ToScalarString(e, &needle);
          any = any || absl::StrContains(absl::AsciiStrToLower(hay), absl::AsciiStrToLower(needle));
        }
      }
      bool negated = c.op == "!" || c.op == "!=" || c.op == "!@";
      if (any == negated) return false;
    }
    return true;
  }
};

EntityStore::EntityStore(int64_t seeded, std::string id_field, Generator generator)
    : seeded_(std::max<int64_t>(seeded, 0)),
      id_field_(std::move(id_field)),
      generator_(std::move(generator)),
      next_id_(seeded_ + 1) {}

bool EntityStore::Exists(int64_t id) const {
  if (id >= 1 && id <= seeded_) return deleted_.count(id) == 0;
  return id > seeded_ && stored_.count(id) > 0;
}

std::optional<php::Json> EntityStore::Get(int64_t id) const {
  if (!Exists(id)) return std::nullopt;
  auto it = stored_.find(id);
  if (it != stored_.end()) return it->second;
  return generator_(id);
}

void EntityStore::Put(int64_t id, Json row) {
  stored_[id] = std::move(row);
  deleted_.erase(id);
  if (id >= next_id_) next_id_ = id + 1;
}

bool EntityStore::Erase(int64_t id) {
  if (!Exists(id)) return false;
  stored_.erase(id);
  if (id <= seeded_) deleted_.insert(id);
  return true;
}

int64_t EntityStore::Count(int64_t lo, int64_t hi) const {
  if (lo > hi) return 0;
  int64_t count = 0;
  int64_t a = std::max<int64_t>(lo, 1), b = std::min(hi, seeded_);
  if (a <= b) {
    count += b - a + 1;
    count -= std::distance(deleted_.lower_bound(a), deleted_.upper_bound(b));
  }
  int64_t c = std::max(lo, seeded_ + 1);
  if (c <= hi) count += std::distance(stored_.lower_bound(c), stored_.upper_bound(hi));
  return count;
}

std::optional<int64_t> EntityStore::Kth(int64_t lo, int64_t hi, int64_t k, bool asc) const {
  int64_t seeded_lo = std::max<int64_t>(lo, 1), seeded_hi = std::min(hi, seeded_);
  int64_t in_seeded = Count(seeded_lo, seeded_hi);
  int64_t added_lo = std::max(lo, seeded_ + 1);
  if (asc) {
    if (k < in_seeded) {  // Smallest x with Count(seeded_lo, x) > k.
      int64_t l = seeded_lo, r = seeded_hi;
      while (l < r) {
        int64_t m = l + (r - l) / 2;
        if (Count(seeded_lo, m) > k)
          r = m;
        else
          l = m + 1;
      }
      return l;
    }
    k -= in_seeded;
    for (auto it = stored_.lower_bound(added_lo); it != stored_.end() && it->first <= hi; ++it) {
      if (k-- == 0) return it->first;
    }
    return std::nullopt;
  }
  if (added_lo <= hi) {
    auto it = stored_.upper_bound(hi);
    while (it != stored_.begin()) {
      --it;
      if (it->first < added_lo) break;
      if (k-- == 0) return it->first;
    }
  }
  if (k < in_seeded) {  // Largest x with Count(x, seeded_hi) > k.
    int64_t l = seeded_lo, r = seeded_hi;
    while (l < r) {
      int64_t m = r - (r - l) / 2;
      if (Count(m, seeded_hi) > k)
        l = m;
      else
        r = m - 1;
    }
    return l;
  }
  return std::nullopt;
}

std::optional<int64_t> EntityStore::Next(int64_t id, bool asc) const {
  if (asc) {
    int64_t x = std::max<int64_t>(id, 0) + 1;
    while (x <= seeded_ && deleted_.count(x)) ++x;
    if (x <= seeded_) return x;
    auto it = stored_.lower_bound(x);
    if (it != stored_.end()) return it->first;
    return std::nullopt;
  }
  int64_t x = id - 1;
  if (x > seeded_) {
    auto it = stored_.upper_bound(x);
    if (it != stored_.begin() && std::prev(it)->first > seeded_) return std::prev(it)->first;
    x = seeded_;
  }
  while (x >= 1 && deleted_.count(x)) --x;
  if (x >= 1) return x;
  return std::nullopt;
}

php::Json EntityStore::Project(Json row, const std::set<std::string>& select) const {
  if (select.empty()) return row;
  Json out = Json::object();
  for (auto it = row.begin(); it != row.end(); ++it) {
    std::string key = php::FieldKey(it.key());
    if (key == php::FieldKey(id_field_) || select.count(key)) out[it.key()] = it.value();
  }
  return out;
}

EntityStore::ListPage EntityStore::List(const ListQuery& query) const {
  const std::string id_key = php::FieldKey(id_field_);
  Filter filter(query.filter, id_key);
  bool asc = true;
  if (query.order.is_object()) {
    for (auto it = query.order.begin(); it != query.order.end(); ++it) {
      std::string dir;
      if (php::FieldKey(it.key()) == id_key && php::ToScalarString(it.value(), &dir)) {
        asc = !absl::EqualsIgnoreCase(dir, "desc");
      }
    }
  }
  std::set<std::string> select;
  for (const auto& s : Values(query.select)) {
    std::string name;
    if (!php::ToScalarString(s, &name)) continue;
    if (name == "*") {
      select.clear();
      break;
    }
    select.insert(php::FieldKey(name));
  }

  ListPage page;
  const bool count = query.start >= 0;
  const int64_t offset = std::max<int64_t>(query.start, 0);
  const int64_t size = std::max<int64_t>(query.page_size, 1);
  if (!filter.ids.has_value() && filter.conditions.empty()) {
    if (count) page.total = Count(filter.lo, filter.hi);
    std::optional<int64_t> id = Kth(filter.lo, filter.hi, offset, asc);
    while (id.has_value() && *id >= filter.lo && *id <= filter.hi && static_cast<int64_t>(page.rows.size()) < size) {
      page.rows.push_back(Project(*Get(*id), select));
      id = Next(*id, asc);
    }
  } else {
    // Scan in order; keep counting past the page only when a count is wanted.
    std::vector<int64_t> candidates;
    if (filter.ids.has_value()) {
      for (int64_t id : *filter.ids) {
        if (id >= filter.lo && id <= filter.hi && Exists(id)) candidates.push_back(id);
      }
      if (!asc) std::reverse(candidates.begin(), candidates.end());
    }
    size_t next_candidate = 0;
    std::optional<int64_t> id;
    auto advance = [&]() -> std::optional<int64_t> {
      if (filter.ids.has_value()) {
        if (next_candidate >= candidates.size()) return std::nullopt;
        return candidates[next_candidate++];
      }
      std::optional<int64_t> n = id.has_value() ? Next(*id, asc) : Kth(filter.lo, filter.hi, 0, asc);
      if (!n.has_value() || *n < filter.lo || *n > filter.hi) return std::nullopt;
      return n;
    };
    int64_t matched = 0;
    while ((id = advance()).has_value()) {
      Json row = *Get(*id);
      if (!filter.Matches(row)) continue;
      if (matched++ >= offset && static_cast<int64_t>(page.rows.size()) < size) {
        page.rows.push_back(Project(std::move(row), select));
      } else if (!count && static_cast<int64_t>(page.rows.size()) >= size) {
        break;
      }
    }
    if (count) page.total = matched;
  }
  if (count && offset + static_cast<int64_t>(page.rows.size()) < page.total) {
    page.next = offset + static_cast<int64_t>(page.rows.size());
  }
  return page;
}

}  // namespace b24::testing
