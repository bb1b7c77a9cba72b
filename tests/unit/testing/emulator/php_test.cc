#include "tests/testing/emulator/php.h"

#include "gtest/gtest.h"

namespace b24::testing::php {
namespace {

TEST(ParseStrTest, BracketSyntaxBuildsNestedArrays) {
  Json j = ParseStr(
      "fields[TITLE]=My%20deal&select[]=ID&select[]=TITLE&filter[%3EID]=5&"
      "fields[PHONE][0][VALUE]=112&fields[PHONE][0][VALUE_TYPE]=WORK&start=-1");
  EXPECT_EQ(j, Json::parse(R"({"fields":{"TITLE":"My deal","PHONE":[{"VALUE":"112",
      "VALUE_TYPE":"WORK"}]},"select":["ID","TITLE"],"filter":{">ID":"5"},"start":"-1"})"));
}

TEST(ParseStrTest, PhpQuirks) {
  // '.' and ' ' in the top-level name become '_'; inside brackets they stay.
  EXPECT_EQ(ParseStr("a.b=1&c d=2&cmd[crm.deal.list]=x"),
            Json::parse(R"({"a_b":"1","c_d":"2","cmd":{"crm.deal.list":"x"}})"));
  // '+' is a space, a key without '=' is "", later keys win, [] appends after max int key.
  EXPECT_EQ(ParseStr("q=a+b&flag&x=1&x=2&l[5]=a&l[]=b"),
            Json::parse(R"({"q":"a b","flag":"","x":"2","l":{"5":"a","6":"b"}})"));
  // Unmatched '[' makes it part of the name; text after the last ']' is ignored.
  EXPECT_EQ(ParseStr("a[b=1&c[d]x=2"), Json::parse(R"({"a_b":"1","c":{"d":"2"}})"));
  EXPECT_EQ(ParseStr(""), Json::array());
  std::string deep = "d";
  for (int i = 0; i < 64; ++i) deep += "[a]";
  EXPECT_EQ(ParseStr(deep + "=1&ok=1"), Json::parse(R"({"ok":"1"})"));
}

TEST(PhpArrayTest, ListOnlyForKeysZeroToN) {
  EXPECT_EQ(PhpArray(Json::object()), Json::array());
  EXPECT_EQ(PhpArray(Json::parse(R"({"0":1,"1":2})")), Json::parse("[1,2]"));
  EXPECT_EQ(PhpArray(Json::parse(R"({"0":1,"2":2})")), Json::parse(R"({"0":1,"2":2})"));
  EXPECT_EQ(PhpArray(Json::parse(R"({"1":1,"0":2})")), Json::parse(R"({"1":1,"0":2})"));
}

TEST(CastTest, BoolIntString) {
  EXPECT_TRUE(ToBool(Json("false")));  // The PHP trap.
  EXPECT_TRUE(ToBool(Json("Y")));
  EXPECT_FALSE(ToBool(Json("0")));
  EXPECT_FALSE(ToBool(Json("")));
  EXPECT_FALSE(ToBool(Json(0)));
  EXPECT_FALSE(ToBool(Json(false)));
  EXPECT_FALSE(ToBool(Json()));
  EXPECT_FALSE(ToBool(Json::array()));
  EXPECT_EQ(ToInt(Json("12abc")), 12);
  EXPECT_EQ(ToInt(Json(" -7")), -7);
  EXPECT_EQ(ToInt(Json("abc")), 0);
  EXPECT_EQ(ToInt(Json(3.9)), 3);
  std::string s;
  EXPECT_TRUE(ToScalarString(Json(true), &s));
  EXPECT_EQ(s, "1");
  EXPECT_TRUE(ToScalarString(Json(42), &s));
  EXPECT_EQ(s, "42");
  EXPECT_FALSE(ToScalarString(Json::array(), &s));
  EXPECT_FALSE(ToScalarString(Json(), &s));
  EXPECT_EQ(FieldKey("RESPONSIBLE_ID"), FieldKey("responsibleId"));
}

TEST(UrlTest, EncodeDecodeRoundTrip) {
  EXPECT_EQ(UrlEncode("a b&c=[d]~"), "a%20b%26c%3D%5Bd%5D~");
  EXPECT_EQ(UrlDecode("a%20b%26c+d%zz"), "a b&c d%zz");
  EXPECT_EQ(UrlDecode("a+b", /*plus_as_space=*/false), "a+b");
}

}  // namespace
}  // namespace b24::testing::php
