#include "service/rest/export_cursor.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "service/common/status.h"

namespace b24::rest {
namespace {

const ExportIdentity kDeals{"host:x.bitrix24.com", "crm.deal.list", ExportCursor::ParamsDigest(Json::object())};

ExportPosition Keyset() {
  ExportPosition p;
  p.delivered = 2500;
  p.ranges = {{2500, 250000}, {260000, -1}};
  return p;
}

std::string Reason(const absl::Status& s) {
  auto d = GetErrorDetail(s);
  return d ? d->reason : "";
}

TEST(ExportCursorTest, RoundTripsBothModes) {
  ExportCursor codec("key");
  auto k = codec.Decode(codec.Encode(kDeals, Keyset()), kDeals);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE(k->keyset);
  EXPECT_EQ(k->delivered, 2500);
  EXPECT_EQ(k->ranges, Keyset().ranges);
  ExportPosition o;
  o.keyset = false;
  o.delivered = 100;
  o.offset = 100;
  o.total = 5000;
  auto back = codec.Decode(codec.Encode(kDeals, o), kDeals);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->keyset);
  EXPECT_EQ(back->offset, 100);
  EXPECT_EQ(back->total, 5000);
}

TEST(ExportCursorTest, ForeignCursorsNameWhatDiffers) {
  ExportCursor codec("key");
  std::string cursor = codec.Encode(kDeals, Keyset());
  struct Case {
    ExportIdentity identity;
    const char* mentions;
  };
  const Case cases[] = {
      {{"host:x.bitrix24.com", "crm.contact.list", kDeals.params_digest},
       "export of crm.deal.list, not crm.contact.list"},
      {{"host:y.bitrix24.com", "crm.deal.list", kDeals.params_digest}, "another portal (host:x.bitrix24.com)"},
      {{"host:x.bitrix24.com", "crm.deal.list", ExportCursor::ParamsDigest(Json{{"filter", {{">ID", 5}}}})},
       "other params"},
  };
  for (const Case& c : cases) {
    absl::Status s = codec.Decode(cursor, c.identity).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Reason(s), "INVALID_CURSOR");
    EXPECT_NE(s.message().find(c.mentions), std::string::npos) << s.message();
  }
}

TEST(ExportCursorTest, TamperedTruncatedAndForgedCursorsAreRefused) {
  ExportCursor codec("key");
  std::string cursor = codec.Encode(kDeals, Keyset());
  // The payload re-signed by nobody: change a range and keep the old MAC.
  size_t dot = cursor.find('.', 3);
  std::string payload;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(cursor.substr(3, dot - 3), &payload));
  std::string forged = payload;
  forged.replace(forged.find("250000"), 6, "999999");
  std::string tampered = "c2." + absl::WebSafeBase64Escape(forged) + cursor.substr(dot);
  const std::pair<std::string, const char*> cases[] = {
      {tampered, "wrong signature"},
      {cursor.substr(0, cursor.size() - 5), "wrong signature"},
      {cursor.substr(0, dot), "damaged"},
      {"c2.!!!.???", "damaged"},
      {R"({"v":1,"n":0,"m":"k","r":[]})", "older gateway version"},
      {"garbage", "not a GetAll cursor"},
      {std::string(5000, 'c'), "longer than"},
      {ExportCursor("other key").Encode(kDeals, Keyset()), "another security.cursor_key"},
  };
  for (const auto& [text, mentions] : cases) {
    absl::Status s = codec.Decode(text, kDeals).status();
    EXPECT_EQ(Reason(s), "INVALID_CURSOR") << text;
    EXPECT_NE(s.message().find(mentions), std::string::npos) << s.message();
  }
}

TEST(ExportCursorTest, ParamsDigestDependsOnEveryParam) {
  EXPECT_EQ(ExportCursor::ParamsDigest(Json{{"select", {"ID"}}}), ExportCursor::ParamsDigest(Json{{"select", {"ID"}}}));
  EXPECT_NE(ExportCursor::ParamsDigest(Json{{"select", {"ID"}}}),
            ExportCursor::ParamsDigest(Json{{"select", {"ID", "TITLE"}}}));
  EXPECT_EQ(ExportCursor::ParamsDigest(Json::object()).size(), 32u);
}

}  // namespace
}  // namespace b24::rest
