#include "tests/testing/emulator/rest_methods.h"

#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace b24::testing::emulator_internal {
namespace {

// Seeded rows were "created" one minute apart from 2024-01-01 on.
std::string SeedDate(int64_t id) { return IsoTime(absl::FromUnixSeconds(1704067200 + id * 60)); }

Json SeedDeal(int64_t id) {
  static const char* const kStages[] = {"NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "WON"};
  std::string s = std::to_string(id), date = SeedDate(id);
  return Json{{"ID", s},
              {"TITLE", "Deal " + s},
              {"TYPE_ID", "SALE"},
              {"STAGE_ID", kStages[id % 5]},
              {"CATEGORY_ID", "0"},
              {"OPPORTUNITY", absl::StrCat((id * 7919) % 100000, ".00")},
              {"CURRENCY_ID", "USD"},
              {"CONTACT_ID", std::to_string((id - 1) % 1000 + 1)},
              {"ASSIGNED_BY_ID", "1"},
              {"DATE_CREATE", date},
              {"DATE_MODIFY", date}};
}

Json SeedContact(int64_t id) {
  std::string s = std::to_string(id), date = SeedDate(id);
  return Json{{"ID", s},
              {"NAME", "Name " + s},
              {"LAST_NAME", "Contact " + s},
              {"TYPE_ID", "CLIENT"},
              {"SOURCE_ID", "WEB"},
              {"ASSIGNED_BY_ID", "1"},
              {"DATE_CREATE", date},
              {"DATE_MODIFY", date}};
}

Json SeedItem(int64_t entity_type_id, int64_t id) {
  std::string date = SeedDate(id);
  return Json{{"id", id},
              {"title", absl::StrCat("Item ", id)},
              {"entityTypeId", entity_type_id},
              {"categoryId", 0},
              {"stageId", absl::StrCat("DT", entity_type_id, "_0:NEW")},
              {"opportunity", static_cast<double>((id * 7919) % 100000)},
              {"currencyId", "USD"},
              {"assignedById", 1},
              {"createdTime", date},
              {"updatedTime", date}};
}

Json SeedTask(int64_t id) {
  std::string s = std::to_string(id);
  return Json{{"id", s},         {"title", "Task " + s}, {"description", ""}, {"status", std::to_string(2 + id % 4)},
              {"priority", "1"}, {"responsibleId", "1"}, {"createdBy", "1"},  {"createdDate", SeedDate(id)},
              {"groupId", "0"}};
}

MethodResult NotFound() { return MethodResult::Error(400, "", "Not found"); }

// Classic CRM handlers report a bad or missing ID with an empty error code.
std::optional<int64_t> IdParam(const Json& params) {
  const Json* id = Param(params, "id");
  if (id == nullptr || php::ToInt(*id) <= 0) return std::nullopt;
  return php::ToInt(*id);
}

MethodResult List(const EntityStore& store, const PortalOptions& options, const Json& params,
                  const std::string& wrap_key) {
  EntityStore::ListQuery q;
  if (const Json* v = Param(params, "filter")) q.filter = *v;
  if (const Json* v = Param(params, "order")) q.order = *v;
  if (const Json* v = Param(params, "select")) q.select = *v;
  if (const Json* v = Param(params, "start")) q.start = php::ToInt(*v);
  q.page_size = options.page_size;
  EntityStore::ListPage page = store.List(q);
  MethodResult r;
  Json rows = Json::array();
  for (auto& row : page.rows) rows.push_back(std::move(row));
  r.items = static_cast<int64_t>(rows.size());
  r.result = wrap_key.empty() ? std::move(rows) : Json{{wrap_key, std::move(rows)}};
  r.total = page.total;
  r.next = page.next;
  r.count_rows = q.start >= 0 ? page.total : 0;
  return r;
}

// Applies `fields` (any key case) to an upper-case-keyed classic CRM row.
void ApplyFields(const Json& fields, Json* row) {
  if (!fields.is_object()) return;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    std::string key = absl::AsciiStrToUpper(it.key());
    if (key == "ID") continue;
    std::string s;
    (*row)[key] = php::ToScalarString(it.value(), &s) ? Json(s) : it.value();
  }
}

MethodResult CrudMethod(EntityStore& store, absl::string_view op, const Json& params, const CallContext& ctx,
                        absl::Time now, const std::function<Json(int64_t)>& seed) {
  static const Json kEmpty = Json::object();
  const Json* fields = Param(params, "fields");
  if (fields == nullptr) fields = &kEmpty;
  if (op == "add") {
    int64_t id = store.AllocateId();
    Json row = seed(id);
    for (auto it = row.begin(); it != row.end(); ++it) {
      if (it.key() != "ID" && it.value().is_string()) it.value() = "";
    }
    row["ASSIGNED_BY_ID"] = std::to_string(ctx.user_id);
    row["DATE_CREATE"] = row["DATE_MODIFY"] = IsoTime(now);
    ApplyFields(*fields, &row);
    store.Put(id, std::move(row));
    MethodResult r;
    r.result = id;
    return r;
  }
  std::optional<int64_t> id = IdParam(params);
  if (!id.has_value()) return MethodResult::Error(400, "", "ID is not defined or invalid.");
  std::optional<Json> row = store.Get(*id);
  if (!row.has_value()) return NotFound();
  MethodResult r;
  if (op == "get") {
    r.result = std::move(*row);
    r.items = 1;
  } else if (op == "update") {
    ApplyFields(*fields, &*row);
    (*row)["DATE_MODIFY"] = IsoTime(now);
    store.Put(*id, std::move(*row));
    r.result = true;
  } else {  // delete
    store.Erase(*id);
    r.result = true;
  }
  return r;
}

}  // namespace

MethodResult MethodResult::Error(int status, std::string error, std::string description) {
  MethodResult r;
  r.status = status;
  r.error = std::move(error);
  r.error_description = std::move(description);
  return r;
}

PortalData::PortalData(const SeedCounts& seed)
    : deals(seed.deals, "ID", SeedDeal),
      contacts(seed.contacts, "ID", SeedContact),
      tasks(seed.tasks, "id", SeedTask),
      seeded_items_(seed.crm_items) {}

EntityStore& PortalData::Items(int64_t entity_type_id) {
  auto it = items_.find(entity_type_id);
  if (it == items_.end()) {
    it = items_
             .try_emplace(entity_type_id, seeded_items_, "id",
                          [entity_type_id](int64_t id) { return SeedItem(entity_type_id, id); })
             .first;
  }
  return it->second;
}

bool IsKnownMethod(absl::string_view method) {
  static const char* const kMethods[] = {"batch",
                                         "crm.deal.list",
                                         "crm.deal.get",
                                         "crm.deal.add",
                                         "crm.deal.update",
                                         "crm.deal.delete",
                                         "crm.contact.list",
                                         "crm.contact.get",
                                         "crm.contact.add",
                                         "crm.contact.update",
                                         "crm.contact.delete",
                                         "crm.item.list",
                                         "tasks.task.list",
                                         "app.info",
                                         "profile",
                                         "server.time"};
  for (const char* m : kMethods) {
    if (method == m) return true;
  }
  return false;
}

MethodResult RunMethod(PortalData& data, const PortalOptions& options, const std::string& method,
                       const CallContext& ctx, const Json& params, absl::Time now) {
  struct Family {
    absl::string_view prefix;
    EntityStore* store;
    Json (*seed)(int64_t);
  };
  const Family families[] = {{"crm.deal.", &data.deals, SeedDeal}, {"crm.contact.", &data.contacts, SeedContact}};
  for (const Family& f : families) {
    if (!absl::StartsWith(method, f.prefix)) continue;
    absl::string_view op = absl::string_view(method).substr(f.prefix.size());
    if (op == "list") return List(*f.store, options, params, "");
    return CrudMethod(*f.store, op, params, ctx, now, f.seed);
  }
  if (method == "crm.item.list") {
    const Json* type = Param(params, "entityTypeId");
    if (type == nullptr || php::ToInt(*type) <= 0) {
      return MethodResult::Error(400, "NOT_FOUND", "Smart process not found");
    }
    return List(data.Items(php::ToInt(*type)), options, params, "items");
  }
  if (method == "tasks.task.list") return List(data.tasks, options, params, "tasks");
  MethodResult r;
  if (method == "server.time") {
    r.result = IsoTime(now);
  } else if (method == "profile") {
    r.result = Json{{"ID", std::to_string(ctx.user_id)},
                    {"ADMIN", ctx.user_id == 1},
                    {"NAME", "User"},
                    {"LAST_NAME", std::to_string(ctx.user_id)},
                    {"PERSONAL_GENDER", ""},
                    {"TIME_ZONE", ""},
                    {"TIME_ZONE_OFFSET", 0}};
  } else if (method == "app.info") {
    r.result = Json{{"ID", 1},
                    {"CODE", ctx.client_id},
                    {"VERSION", 1},
                    {"STATUS", ctx.client_id.empty() ? "L" : ctx.app_status},
                    {"INSTALLED", true},
                    {"PAYMENT_EXPIRED", "N"},
                    {"DAYS", nullptr},
                    {"LANGUAGE_ID", "en"},
                    {"LICENSE", options.license},
                    {"LICENSE_TYPE", options.license_family},
                    {"LICENSE_FAMILY", options.license_family},
                    {"SCOPE", ctx.scope}};
  } else {
    return MethodResult::Error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
  }
  return r;
}

const Json* Param(const Json& params, absl::string_view name) {
  if (!params.is_object()) return nullptr;
  auto exact = params.find(std::string(name));
  if (exact != params.end()) return &*exact;
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (absl::EqualsIgnoreCase(it.key(), name)) return &it.value();
  }
  return nullptr;
}

std::string IsoTime(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", t, absl::UTCTimeZone()); }

}  // namespace b24::testing::emulator_internal
