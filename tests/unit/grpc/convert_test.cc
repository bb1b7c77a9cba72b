#include "service/grpc/convert.h"

#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "service/common/status.h"
#include "service/common/utf8.h"

namespace b24::grpcapi {
namespace {

using rest::Json;

TEST(ConvertTest, ShapeIsTheExactEncodedSize) {
  const char* cases[] = {
      "null",
      "true",
      "1.5",
      R"("text")",
      "[]",
      "{}",
      R"({"a":1,"b":[true,null,"x",{"c":{}}]})",
      R"([[[[1]]],{"k":"\u00e9"}])",
      R"({"":0,"long":")"
      "0123456789012345678901234567890123456789"
      "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"}",
  };
  for (const char* text : cases) {
    Json j = Json::parse(text);
    google::protobuf::Value v;
    JsonToValue(j, &v);
    EXPECT_EQ(ShapeOf(j).bytes, v.ByteSizeLong()) << text;
  }
  // Big: 100,000 keys.
  Json many = Json::object();
  for (int i = 0; i < 100'000; ++i) rest::AppendUniqueKey(many, "k" + std::to_string(i), Json(i));
  google::protobuf::Value v;
  JsonToValue(many, &v);
  EXPECT_EQ(ShapeOf(many).bytes, v.ByteSizeLong());
  EXPECT_EQ(v.struct_value().fields_size(), 100'000);
}

TEST(ConvertTest, ResultsThatDoNotFitAreRefusedBeforeTheyAreBuilt) {
  Json big = Json(std::string(5 << 20, 'x'));
  absl::Status s = CheckFits(ShapeOf(big), 256, 1, 4 << 20, "the result of profile");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(GetErrorDetail(s)->reason, "RESULT_TOO_LARGE");
  EXPECT_NE(s.message().find("grpc.max_message_bytes"), std::string::npos);
  Json deep = Json::object();
  Json* at = &deep;
  for (int i = 0; i < 40; ++i) {  // 40 × (object + array): 200 protobuf levels
    Json& list = (*at)["a"] = Json::array();
    list.push_back(Json::object());
    at = &list[0];
  }
  absl::Status d = CheckFits(ShapeOf(deep), 0, 1, 4 << 20, "the result");
  EXPECT_EQ(GetErrorDetail(d)->reason, "RESULT_TOO_DEEP") << d;
  EXPECT_TRUE(CheckFits(ShapeOf(Json::parse(R"({"a":{"b":[1,2]}})")), 256, 1, 4 << 20, "x").ok());
}

TEST(ConvertTest, StatusesAreValidUtf8SoTheirDetailsParse) {
  absl::Status bad = ErrorWithDetail(absl::StatusCode::kPermissionDenied, "denied: \xff\xfe",
                                     {"ACCESS_DENIED", "bitrix24", {{"error_description", "bad \xc3"}}});
  grpc::Status g = ToGrpcStatus(bad);
  EXPECT_TRUE(IsValidUtf8(g.error_message()));
  google::rpc::Status rich;
  ASSERT_TRUE(rich.ParseFromString(g.error_details()));
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(rich.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "ACCESS_DENIED");
  EXPECT_EQ(info.metadata().at("error_description"), "bad \xEF\xBF\xBD");
}

TEST(ConvertTest, UndecodableRequestsSayWhy) {
  InstallProtobufLogHandler();
  auto decode = [](const std::string& bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    bitrix24::v1::CallRequest request;
    return DecodeRequest(buffer, &request);
  };
  bitrix24::v1::CallRequest ok;
  ok.set_method("profile");
  EXPECT_TRUE(decode(ok.SerializeAsString()).ok());
  struct Case {
    std::string bytes;
    const char* mentions;
  };
  bitrix24::v1::CallRequest nested;
  google::protobuf::Struct* level = nested.mutable_params();
  for (int i = 0; i < 60; ++i) level = (*level->mutable_fields())["a"].mutable_struct_value();
  const Case cases[] = {
      {std::string(4, '\xff'), "do not decode"},
      {std::string{'\x12', '\x02', '\xff', '\xfe'}, "bitrix24.v1.CallRequest.method is not valid UTF-8"},
      {nested.SerializeAsString(), "nests deeper than protobuf's limit"},
  };
  for (const Case& c : cases) {
    absl::Status s = decode(c.bytes);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(GetErrorDetail(s)->reason, "INVALID_REQUEST");
    EXPECT_NE(s.message().find(c.mentions), std::string::npos) << s.message();
  }
}

TEST(ConvertTest, StructParamsBecomeJsonInKeyOrder) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["z"].set_number_value(1);
  (*s.mutable_fields())["a"].set_number_value(2.5);
  (*s.mutable_fields())["m"].mutable_list_value()->add_values()->set_string_value("x");
  EXPECT_EQ(StructToJson(s)->dump(), R"({"a":2.5,"m":["x"],"z":1})");
}

}  // namespace
}  // namespace b24::grpcapi
