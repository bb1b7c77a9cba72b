// IsReadOnlyMethod decides whether a call may be sent again after an ambiguous
// failure (service/rest/client.cc, batch.cc): a method wrongly answered "read"
// can run twice on the portal. The table records what it answers today,
// including names whose answer only follows from the rule (the last part of
// the name starts with a read verb), so any change to it shows up here.
#include "service/rest/portal.h"

#include <gtest/gtest.h>

namespace b24::rest {
namespace {

struct ReadOnlyCase {
  const char* method;
  bool read_only;
};

constexpr ReadOnlyCase kReadOnlyCases[] = {
    // Exact names.
    {"profile", true},
    {"app.info", true},
    {"server.time", true},
    {"user.current", true},
    {"methods", true},
    {"scope", true},
    {"method.get", true},
    {"feature.get", true},
    {"app.option.get", true},
    {"user.option.get", true},
    // Read verbs as the last part.
    {"crm.deal.get", true},
    {"crm.deal.list", true},
    {"crm.deal.fields", true},
    {"crm.item.list", true},
    {"tasks.task.list", true},
    {"tasks.task.getfields", true},
    {"crm.deal.userfield.list", true},
    {"crm.deal.productrows.get", true},
    {"user.search", true},
    {"crm.deal.count", true},
    {"department.current", true},
    {"im.chat.info", true},
    {"disk.folder.getchildren", true},
    // Upper and mixed case: compared lower-cased.
    {"PROFILE", true},
    {"App.Info", true},
    {"SERVER.TIME", true},
    {"CRM.DEAL.LIST", true},
    {"tasks.task.getFields", true},
    {"CRM.DEAL.ADD", false},
    {"App.Option.Set", false},
    // Writes.
    {"crm.deal.add", false},
    {"crm.deal.update", false},
    {"crm.deal.delete", false},
    {"crm.deal.productrows.set", false},
    {"crm.deal.userfield.add", false},
    {"app.option.set", false},
    {"user.option.set", false},
    {"event.bind", false},
    {"event.unbind", false},
    {"placement.bind", false},
    {"bizproc.workflow.start", false},
    {"tasks.task.start", false},
    {"tasks.task.complete", false},
    {"im.message.add", false},
    {"im.dialog.read", false},  // marks messages read: a write
    {"batch", false},           // its commands are judged one by one (batch.cc)
    // A read verb elsewhere than in the last part does not count.
    {"task.listener.add", false},
    {"lists.element.add", false},
    {"crm.timeline.comment.add", false},
    {"crm.deal.list.update", false},
    // The last part only has to start with a read verb.
    {"crm.item.getlist", true},
    {"app.option.getall", true},
    {"crm.requisite.preset.countries", true},  // "count..."
    {"disk.file.getexternallink", true},
    // Made-up names: writes the rule would take for reads.
    {"crm.deal.listener", true},
    {"crm.deal.getandlock", true},
    {"crm.deal.countincrement", true},
    {"user.infoupdate", true},
    {"crm.deal.fieldsset", true},
    {"crm.deal.searchandreplace", true},
    {"crm.deal.currentset", true},
    // Reads the rule does not know: treated as writes (never repeated).
    {"timeman.status", false},
    {"crm.duplicate.findbycomm", false},
    {"sonet_group.user.groups", false},
    {"crm.profile", false},  // "profile" only counts as the whole name
    {"user.time", false},
    // Odd shapes.
    {"", false},
    {"get", true},
    {"list", true},
    {"getlist", true},
    {".get", true},
    {"crm..get", true},
    {"crm.deal.get.", false},  // the last part is empty
    {"crm.deal", false},
    {"app.info.set", false},
    {"profile.update", false},
};

TEST(IsReadOnlyMethodTest, Table) {
  for (const ReadOnlyCase& c : kReadOnlyCases) {
    EXPECT_EQ(IsReadOnlyMethod(c.method), c.read_only) << '"' << c.method << '"';
  }
}

}  // namespace
}  // namespace b24::rest
