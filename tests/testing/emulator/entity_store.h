// EntityStore: the rows of one entity type (deals, contacts, tasks, the items of
// one smart process) on one emulated portal.
//
// Rows 1..seeded are generated from their ID on demand, so a portal with a
// million deals costs no memory; only rows added, updated or deleted through the
// API are stored. IDs of added rows continue after the seeded ones.
//
// List() implements the classic list contract (PROTOCOL.md §5): pages of
// `page_size`, offset `start` with a total count, negative `start` = no count;
// filter on the ID with prefixes none/=, >, >=, <, <=, @ (list), !/!= and !@
// plus any other field (same prefixes and % for "contains"), which falls back to
// a scan; order by ID ASC/DESC; select (ID always included, "*" = all).
// Pages by ID alone cost O(log n) however deep the offset.
//
// Not thread-safe; the emulator guards every store with its own mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/testing/emulator/php.h"

namespace b24::testing {

class EntityStore {
 public:
  using Json = php::Json;
  using Generator = std::function<Json(int64_t id)>;

  // `id_field` is the ID key of a row as returned ("ID" or "id"); filter and
  // order accept it in any case.
  EntityStore(int64_t seeded, std::string id_field, Generator generator);

  bool Exists(int64_t id) const;
  std::optional<Json> Get(int64_t id) const;
  int64_t AllocateId() { return next_id_++; }
  // Stores the full row (insert or replace).
  void Put(int64_t id, Json row);
  // False when there is no such row.
  bool Erase(int64_t id);

  struct ListQuery {
    Json filter = Json::object();
    Json order = Json::object();
    Json select = Json::array();
    int64_t start = 0;
    int64_t page_size = 50;
  };
  struct ListPage {
    std::vector<Json> rows;
    int64_t total = 0;            // matching rows; 0 when start < 0 (no COUNT)
    std::optional<int64_t> next;  // offset of the next page, if any
  };
  ListPage List(const ListQuery& query) const;

 private:
  struct Filter;
  // Existing IDs in [lo, hi].
  int64_t Count(int64_t lo, int64_t hi) const;
  // The k-th (0-based) existing ID in [lo, hi] counting from lo (asc) or hi.
  std::optional<int64_t> Kth(int64_t lo, int64_t hi, int64_t k, bool asc) const;
  // The next existing ID after `id` in the given direction (unbounded).
  std::optional<int64_t> Next(int64_t id, bool asc) const;
  Json Project(Json row, const std::set<std::string>& select) const;

  int64_t seeded_;
  std::string id_field_;
  Generator generator_;
  int64_t next_id_;
  std::map<int64_t, Json> stored_;  // updated seeded rows and added rows
  std::set<int64_t> deleted_;       // deleted seeded IDs
};

}  // namespace b24::testing
