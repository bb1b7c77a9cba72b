// BuildQuery writes the parameters of every batch command; what it produces is
// what the portal's parse_str() reads back (PROTOCOL.md §1.3, §4).
#include "service/rest/query.h"

#include <gtest/gtest.h>

#include <string>

namespace b24::rest {
namespace {

using OrderedJson = nlohmann::ordered_json;

struct QueryCase {
  const char* params;  // JSON text, parsed keeping key order
  const char* query;
};

constexpr QueryCase kQueryCases[] = {
    // Top level.
    {R"({})", ""},
    {R"({"id":5})", "id=5"},
    {R"({"z":1,"a":2,"m":3})", "z=1&a=2&m=3"},  // key order kept, not sorted
    {R"({"a":""})", "a="},
    {R"({"":1})", "=1"},
    // Not an object: nothing to encode.
    {R"([1,2])", ""},
    {R"("id=5")", ""},
    {R"(5)", ""},
    {R"(null)", ""},
    // Nested objects and arrays: PHP brackets, encoded.
    {R"({"filter":{">ID":5},"select":["ID","TITLE"]})", "filter%5B%3EID%5D=5&select%5B0%5D=ID&select%5B1%5D=TITLE"},
    {R"({"order":{"ID":"ASC","DATE_CREATE":"DESC"}})", "order%5BID%5D=ASC&order%5BDATE_CREATE%5D=DESC"},
    {R"({"b":{"z":1,"a":2},"a":3})", "b%5Bz%5D=1&b%5Ba%5D=2&a=3"},
    {R"({"a":{"b":{"c":[1,{"d":"x"}]}}})", "a%5Bb%5D%5Bc%5D%5B0%5D=1&a%5Bb%5D%5Bc%5D%5B1%5D%5Bd%5D=x"},
    {R"({"fields":[{"A":1},{"B":2}]})", "fields%5B0%5D%5BA%5D=1&fields%5B1%5D%5BB%5D=2"},
    {R"({"m":[[1,2],[3]]})", "m%5B0%5D%5B0%5D=1&m%5B0%5D%5B1%5D=2&m%5B1%5D%5B0%5D=3"},
    // A key holding brackets reads as the nested form.
    {R"({"filter[>ID]":5})", "filter%5B%3EID%5D=5"},
    // Empty arrays and objects leave no trace, like http_build_query.
    {R"({"a":[],"b":{},"c":1})", "c=1"},
    {R"({"a":[[]],"b":{"c":{}}})", ""},
    // Booleans are 1/0; null is left out (inside arrays too, indexes kept).
    {R"({"t":true,"f":false})", "t=1&f=0"},
    {R"({"n":null,"a":1})", "a=1"},
    {R"({"n":null})", ""},
    {R"({"l":[null,true,null,false]})", "l%5B1%5D=1&l%5B3%5D=0"},
    // Numbers as JSON writes them.
    {R"({"i":-5,"z":0,"big":18446744073709551615,"neg":-9223372036854775808})",
     "i=-5&z=0&big=18446744073709551615&neg=-9223372036854775808"},
    {R"({"d":1.5,"p":0.1,"e":1e100,"f":-2.5e-7})", "d=1.5&p=0.1&e=1e%2B100&f=-2.5e-07"},
    {R"({"whole":2.0})", "whole=2.0"},
    // Strings that look like other types stay strings.
    {R"({"s":"true","n":"null","x":"5"})", "s=true&n=null&x=5"},
    // Unicode: UTF-8 bytes, percent-encoded, in keys too.
    {R"({"TITLE":"Сделка"})", "TITLE=%D0%A1%D0%B4%D0%B5%D0%BB%D0%BA%D0%B0"},
    {R"({"s":"é😀"})", "s=%C3%A9%F0%9F%98%80"},
    {R"({"имя":"x"})", "%D0%B8%D0%BC%D1%8F=x"},
    // Reserved characters are encoded; "-_.~" and alphanumerics are not.
    {R"({"q":"a b&c=d+e/f?g#h%i"})", "q=a%20b%26c%3Dd%2Be%2Ff%3Fg%23h%25i"},
    {R"({"k&=[]":"v"})", "k%26%3D%5B%5D=v"},
    {R"({"u":"AZaz09-_.~"})", "u=AZaz09-_.~"},
    {R"({"line":"a\nb\tc\u0000d"})", "line=a%0Ab%09c%00d"},
    // Batch references are plain values; the portal decodes before resolving.
    {R"({"id":"$result[a][49][ID]"})", "id=%24result%5Ba%5D%5B49%5D%5BID%5D"},
};

TEST(BuildQueryTest, Table) {
  for (const QueryCase& c : kQueryCases) {
    OrderedJson params = OrderedJson::parse(c.params);
    EXPECT_EQ(BuildQuery(params), c.query) << c.params;
  }
}

struct EncodeCase {
  std::string text;
  const char* encoded;
};

TEST(UrlEncodeTest, Table) {
  const EncodeCase cases[] = {
      {"", ""},
      {"abcXYZ019", "abcXYZ019"},
      {"-_.~", "-_.~"},
      {" ", "%20"},  // not '+'
      {"+", "%2B"},
      {"%", "%25"},
      {":/?#[]@", "%3A%2F%3F%23%5B%5D%40"},
      {"!$&'()*,;=", "%21%24%26%27%28%29%2A%2C%3B%3D"},
      {"\"<>\\^`{|}", "%22%3C%3E%5C%5E%60%7B%7C%7D"},
      {std::string("a\0b", 3), "a%00b"},
      {"\x7f\x80\xff", "%7F%80%FF"},  // bytes as they are, upper-case hex
      {"\xd0\xaf", "%D0%AF"},
      {"$result[a][49][ID]", "%24result%5Ba%5D%5B49%5D%5BID%5D"},
  };
  for (const EncodeCase& c : cases) EXPECT_EQ(UrlEncode(c.text), c.encoded) << c.text;
}

}  // namespace
}  // namespace b24::rest
