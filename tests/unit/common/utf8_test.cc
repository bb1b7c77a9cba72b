#include "service/common/utf8.h"

#include <gtest/gtest.h>

namespace b24 {
namespace {

TEST(Utf8Test, TellsWellFormedFromIllFormed) {
  struct Case {
    std::string text;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"", true},
      {"plain ASCII", true},
      {"Сделка №1 — ok ✓ 😀", true},
      {"\xff", false},
      {"\xc0\xaf", false},          // overlong '/'
      {"\xe0\x80\xaf", false},      // overlong
      {"\xed\xa0\x80", false},      // surrogate U+D800
      {"\xf4\x90\x80\x80", false},  // above U+10FFFF
      {"\xe2\x82", false},          // truncated
      {"a\x80"
       "b",
       false},  // lone continuation
  };
  for (const Case& c : cases) EXPECT_EQ(IsValidUtf8(c.text), c.valid) << c.text;
}

TEST(Utf8Test, ReplacesEachMaximalInvalidSubpartOnce) {
  EXPECT_EQ(SanitizeUtf8("ok"), "ok");
  EXPECT_EQ(SanitizeUtf8("a\xff"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xe2\x82"
                         "x"),
            "\xEF\xBF\xBD"
            "x");  // a truncated sequence is one replacement
  EXPECT_EQ(SanitizeUtf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogates: per byte
  std::string mixed = "Сделка \xfe\xfe конец";
  EXPECT_TRUE(IsValidUtf8(SanitizeUtf8(mixed)));
  EXPECT_EQ(SanitizeUtf8(mixed), "Сделка \xEF\xBF\xBD\xEF\xBF\xBD конец");
}

TEST(Utf8Test, LongInputIsLinear) {
  std::string big(8 << 20, '\xff');  // 8 MiB of invalid bytes
  std::string out = SanitizeUtf8(big);
  EXPECT_EQ(out.size(), big.size() * 3);
  EXPECT_TRUE(IsValidUtf8(out));
}

}  // namespace
}  // namespace b24
