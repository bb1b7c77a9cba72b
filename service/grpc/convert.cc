#include "service/grpc/convert.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/logging.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "service/common/status.h"
#include "service/common/utf8.h"

namespace b24::grpcapi {
namespace {

using rest::Json;

size_t VarintSize(size_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// A length-delimited field: tag, length, payload.
size_t Field(size_t payload) { return 1 + VarintSize(payload) + payload; }

// What protobuf logged while this thread decoded a request.
thread_local std::string* protobuf_log = nullptr;

void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  if (protobuf_log) {
    if (protobuf_log->empty()) *protobuf_log = message;
    return;
  }
  if (level >= google::protobuf::LOGLEVEL_WARNING) fprintf(stderr, "protobuf: %s\n", message.c_str());
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message = SanitizeUtf8(status.message());
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(status.code()));
  rich.set_message(message);
  if (auto detail = GetErrorDetail(status)) {
    google::rpc::ErrorInfo info;
    info.set_reason(SanitizeUtf8(detail->reason));
    info.set_domain(SanitizeUtf8(detail->domain));
    for (const auto& [k, v] : detail->metadata) (*info.mutable_metadata())[SanitizeUtf8(k)] = SanitizeUtf8(v);
    rich.add_details()->PackFrom(info);
    if (auto it = detail->metadata.find("retry_after_seconds"); it != detail->metadata.end()) {
      int64_t seconds = 0;
      if (absl::SimpleAtoi(it->second, &seconds) && seconds >= 0) {
        google::rpc::RetryInfo retry;
        retry.mutable_retry_delay()->set_seconds(seconds);
        rich.add_details()->PackFrom(retry);
      }
    }
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message, rich.SerializeAsString());
}

namespace {

Json ValueToJson(const google::protobuf::Value& v);

Json StructFields(const google::protobuf::Struct& s) {
  // Protobuf maps have no order: sort the keys so the same params always give
  // the same JSON (cursor digests, request bodies).
  std::vector<const google::protobuf::MapPair<std::string, google::protobuf::Value>*> fields;
  fields.reserve(s.fields_size());
  for (const auto& f : s.fields()) fields.push_back(&f);
  std::sort(fields.begin(), fields.end(), [](auto* a, auto* b) { return a->first < b->first; });
  Json out = Json::object();
  for (auto* f : fields) rest::AppendUniqueKey(out, f->first, ValueToJson(f->second));
  return out;
}

// Recursion is bounded: the request parsed within protobuf's recursion limit.
Json ValueToJson(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kNumberValue: {
      double d = v.number_value();
      // Integral values stay integers (IDs, counts) as protobuf's JSON printer does.
      if (d == static_cast<double>(static_cast<int64_t>(d)) && d > -9.0e15 && d < 9.0e15) {
        return Json(static_cast<int64_t>(d));
      }
      return Json(d);
    }
    case google::protobuf::Value::kStringValue:
      return Json(v.string_value());
    case google::protobuf::Value::kBoolValue:
      return Json(v.bool_value());
    case google::protobuf::Value::kStructValue:
      return StructFields(v.struct_value());
    case google::protobuf::Value::kListValue: {
      Json out = Json::array();
      auto& a = out.get_ref<Json::array_t&>();
      a.reserve(v.list_value().values_size());
      for (const auto& item : v.list_value().values()) a.push_back(ValueToJson(item));
      return out;
    }
    default:
      return Json(nullptr);
  }
}

}  // namespace

absl::StatusOr<Json> StructToJson(const google::protobuf::Struct& s) { return StructFields(s); }

ProtoShape ShapeOf(const Json& j) {
  // Post-order without recursion: each frame sums its children.
  struct Frame {
    const Json* value;
    size_t child = 0;  // next child to visit
    size_t bytes = 0;  // sum of the encoded children (entries for objects)
    int depth = 0;     // deepest child
    Json::const_iterator it;
  };
  ProtoShape result;
  std::vector<Frame> stack;
  auto scalar = [](const Json& v) -> size_t {
    switch (v.type()) {
      case Json::value_t::null:
        return 2;  // null_value = 0
      case Json::value_t::boolean:
        return 2;  // bool_value
      case Json::value_t::string:
        return Field(v.get_ref<const std::string&>().size());
      default:
        return 9;  // number_value: tag + fixed64
    }
  };
  auto finish = [&](const Frame& f) -> ProtoShape {
    // Value { struct_value | list_value = Field(children) }.
    return {Field(f.bytes), f.depth + (f.value->is_object() ? 3 : 2)};
  };
  auto push = [&](const Json& v) {
    Frame f{&v};
    f.it = v.cbegin();
    stack.push_back(f);
  };
  if (!j.is_structured()) return {scalar(j), 1};
  push(j);
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.it == f.value->cend()) {
      ProtoShape done = finish(f);
      bool object_parent = false;
      std::string key;
      stack.pop_back();
      if (stack.empty()) {
        result = done;
        break;
      }
      Frame& parent = stack.back();
      object_parent = parent.value->is_object();
      if (object_parent) key = parent.it.key();
      parent.bytes += object_parent ? Field(Field(key.size()) + Field(done.bytes)) : Field(done.bytes);
      parent.depth = std::max(parent.depth, done.depth);
      ++parent.it;
      continue;
    }
    const Json& child = *f.it;
    if (child.is_structured()) {
      push(child);
      continue;
    }
    size_t bytes = scalar(child);
    f.bytes += f.value->is_object() ? Field(Field(f.it.key().size()) + Field(bytes)) : Field(bytes);
    f.depth = std::max(f.depth, 1);
    ++f.it;
  }
  return result;
}

absl::Status CheckFits(const ProtoShape& shape, size_t overhead, int base_depth, size_t max_bytes,
                       const std::string& what) {
  if (shape.bytes + overhead > max_bytes) {
    return GatewayError(absl::StatusCode::kResourceExhausted, "RESULT_TOO_LARGE",
                        absl::StrCat(what, " would be a ", shape.bytes + overhead,
                                     "-byte gRPC message, more than grpc.max_message_bytes (", max_bytes,
                                     "); export lists with GetAll, select fewer fields, or raise the limit on both "
                                     "the gateway and the client"));
  }
  if (base_depth + shape.depth > kProtobufRecursionLimit) {
    return GatewayError(absl::StatusCode::kFailedPrecondition, "RESULT_TOO_DEEP",
                        absl::StrCat(what, " is nested too deeply for protobuf clients (", base_depth + shape.depth,
                                     " message levels, the limit is ", kProtobufRecursionLimit,
                                     "); GetAll with FORMAT_JSON carries such items as text"));
  }
  return absl::OkStatus();
}

void JsonToValue(const Json& j, google::protobuf::Value* out) {
  switch (j.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      out->set_null_value(google::protobuf::NULL_VALUE);
      break;
    case Json::value_t::boolean:
      out->set_bool_value(j.get<bool>());
      break;
    case Json::value_t::string:
      out->set_string_value(j.get_ref<const std::string&>());
      break;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      out->set_number_value(j.get<double>());
      break;
    case Json::value_t::object: {
      auto* fields = out->mutable_struct_value()->mutable_fields();
      // Recursion is bounded by the parser's depth limit (json.h).
      for (auto it = j.begin(); it != j.end(); ++it) JsonToValue(*it, &(*fields)[it.key()]);
      break;
    }
    case Json::value_t::array: {
      auto* list = out->mutable_list_value();
      list->mutable_values()->Reserve(static_cast<int>(j.size()));
      for (const Json& item : j) JsonToValue(item, list->add_values());
      break;
    }
    case Json::value_t::binary:
      out->set_null_value(google::protobuf::NULL_VALUE);
      break;
  }
}

absl::Status JsonToStruct(const Json& j, google::protobuf::Struct* out) {
  if (!j.is_object()) {
    return GatewayError(absl::StatusCode::kFailedPrecondition, "ITEMS_NOT_OBJECTS",
                        absl::StrCat("the method returned an item that is a JSON ", j.type_name(),
                                     ", not an object; FORMAT_STRUCT carries objects only, use FORMAT_JSON"));
  }
  auto* fields = out->mutable_fields();
  for (auto it = j.begin(); it != j.end(); ++it) JsonToValue(*it, &(*fields)[it.key()]);
  return absl::OkStatus();
}

absl::Status DecodeRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* out) {
  std::vector<grpc::Slice> slices;
  std::string wire;
  if (bytes.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) wire.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  const std::string type = out->GetDescriptor()->full_name();
  std::string logged;
  protobuf_log = &logged;
  bool ok = out->ParseFromString(wire);
  protobuf_log = nullptr;
  if (ok) return absl::OkStatus();
  auto invalid = [&](const std::string& why) {
    return GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_REQUEST",
                        absl::StrCat("the request is not a valid ", type, ": ", why));
  };
  if (absl::StrContains(logged, "UTF-8")) {
    // "String field 'bitrix24.v1.CallRequest.method' contains invalid UTF-8 data ..."
    size_t a = logged.find('\''), b = a == std::string::npos ? a : logged.find('\'', a + 1);
    std::string field = b == std::string::npos ? "a string field" : "field " + logged.substr(a + 1, b - a - 1);
    return invalid(absl::StrCat(SanitizeUtf8(field),
                                " is not valid UTF-8; protobuf strings must be UTF-8 (encode binary data first)"));
  }
  // A bounded second attempt tells nesting apart from garbage (never
  // unbounded: the parser recurses per level).
  google::protobuf::io::CodedInputStream deep(reinterpret_cast<const uint8_t*>(wire.data()),
                                              static_cast<int>(wire.size()));
  deep.SetRecursionLimit(1000);
  std::unique_ptr<google::protobuf::Message> probe(out->New());
  protobuf_log = &logged;
  bool deep_ok = probe->ParseFromCodedStream(&deep) && deep.ConsumedEntireMessage();
  protobuf_log = nullptr;
  if (deep_ok) {
    return invalid(absl::StrCat("it nests deeper than protobuf's limit of ", kProtobufRecursionLimit,
                                " message levels (each level of params costs 2 or 3); flatten the params"));
  }
  return invalid(absl::StrCat("its ", wire.size(), " bytes do not decode (truncated, garbage, or nested more than ",
                              kProtobufRecursionLimit, " levels)"));
}

absl::Status EncodeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) return absl::InternalError("cannot encode the response");
  grpc::Slice slice(std::move(bytes));
  *out = grpc::ByteBuffer(&slice, 1);
  return absl::OkStatus();
}

void InstallProtobufLogHandler() { google::protobuf::SetLogHandler(&ProtobufLog); }

}  // namespace b24::grpcapi
