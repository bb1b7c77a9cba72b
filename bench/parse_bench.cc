// parse_bench: what one hostile or large portal answer costs the gateway, new
// code against the code it replaced, both measured in this run on this machine.
//
//   parse_bench            all tables (CPU time per answer, best of 5 runs)
//
// Baselines: nlohmann::ordered_json::parse (the gateway's parser before the
// hardening issue: ordered objects search their keys linearly on every insert)
// and the old Struct conversion (print the JSON, parse it again with
// protobuf's JsonStringToMessage). The scaling column is the cost ratio
// between the largest and the smallest input of a series: linear work scales
// with the input (×5 for 20,000 → 100,000 keys), quadratic work with its square.
#include <google/protobuf/util/json_util.h>
#include <time.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/grpc/convert.h"
#include "service/rest/json.h"

namespace b24 {
namespace {

using rest::Json;

double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// Best of `runs` (CPU seconds).
double Measure(const std::function<void()>& f, int runs = 5) {
  double best = 1e100;
  for (int i = 0; i < runs; ++i) {
    double start = CpuSeconds();
    f();
    best = std::min(best, CpuSeconds() - start);
  }
  return best;
}

std::string ManyKeys(int n) {
  std::string body = "{\"result\":{";
  for (int i = 0; i < n; ++i) absl::StrAppend(&body, i ? "," : "", "\"k", i, "\":", i);
  return body + "}}";
}

std::string Deep(int depth) { return "{\"result\":" + std::string(depth, '[') + std::string(depth, ']') + "}"; }

// A keyset batch answer: 50 pages of 50 deals with 20 fields each.
std::string BatchAnswer() {
  std::string pages;
  for (int p = 0; p < 50; ++p) {
    std::string items;
    for (int i = 0; i < 50; ++i) {
      int id = p * 50 + i + 1;
      std::string item = absl::StrCat("{\"ID\":\"", id, "\"");
      for (int f = 0; f < 19; ++f) absl::StrAppend(&item, ",\"FIELD_", f, "\":\"value ", id, " of field ", f, "\"");
      absl::StrAppend(&items, i ? "," : "", item, "}");
    }
    absl::StrAppend(&pages, p ? "," : "", "\"p", p, "\":[", items, "]");
  }
  return absl::StrCat("{\"result\":{\"result\":{", pages, "},\"result_error\":[]}}");
}

void Row(const std::string& name, const std::string& input, double baseline, double now) {
  std::printf("| %s | %s | %.4f | %.4f | %.1f× |\n", name.c_str(), input.c_str(), baseline, now, baseline / now);
}

void Keys() {
  std::printf("\n### Objects with many keys (parse, CPU seconds)\n\n");
  std::printf(
      "| answer | bytes | ordered_json::parse (before) | ParseUntrustedJson | speed-up |\n|---|---|---|---|---|\n");
  double first_old = 0, first_new = 0, last_old = 0, last_new = 0;
  std::vector<int> sizes = {20'000, 50'000, 100'000};
  for (int n : sizes) {
    std::string body = ManyKeys(n);
    double old_s = Measure([&] { Json j = Json::parse(body); }, n >= 100'000 ? 1 : 3);
    double new_s = Measure([&] { rest::JsonParse p = rest::ParseUntrustedJson(body); });
    if (n == sizes.front()) first_old = old_s, first_new = new_s;
    last_old = old_s, last_new = new_s;
    Row(absl::StrCat(n, " keys"), absl::StrCat(body.size()), old_s, new_s);
  }
  std::printf("\nScaling 20,000 → 100,000 keys (input ×5): before ×%.1f, now ×%.1f.\n", last_old / first_old,
              last_new / first_new);
}

void Depth() {
  std::printf("\n### Deeply nested answers (CPU seconds until refused or parsed)\n\n");
  std::printf(
      "| answer | bytes | ordered_json::parse (before) | ParseUntrustedJson (refused at 64) | speed-up "
      "|\n|---|---|---|---|---|\n");
  for (int depth : {5'000, 20'000}) {
    std::string body = Deep(depth);
    double old_s = Measure([&] { Json j = Json::parse(body); }, 1);
    double new_s = Measure([&] { rest::JsonParse p = rest::ParseUntrustedJson(body); });
    Row(absl::StrCat(depth, " levels"), absl::StrCat(body.size()), old_s, new_s);
  }
  std::string body = Deep(100'000);
  double new_s = Measure([&] { rest::JsonParse p = rest::ParseUntrustedJson(body); });
  std::printf("| 100000 levels | %zu | (stack overflow before: not run) | %.6f | — |\n", body.size(), new_s);
}

void Conversion() {
  std::printf("\n### A 2,500-item batch answer to google.protobuf.Value (CPU seconds)\n\n");
  std::printf("| step | input bytes | before | now | speed-up |\n|---|---|---|---|---|\n");
  std::string body = BatchAnswer();
  Json parsed = rest::ParseUntrustedJson(body).value;
  double old_parse = Measure([&] { Json j = Json::parse(body); });
  double new_parse = Measure([&] { rest::JsonParse p = rest::ParseUntrustedJson(body); });
  Row("parse", absl::StrCat(body.size()), old_parse, new_parse);
  double old_conv = Measure([&] {
    google::protobuf::Value v;
    auto st = google::protobuf::util::JsonStringToMessage(parsed.dump(), &v);
    if (!st.ok()) std::abort();
  });
  double new_conv = Measure([&] {
    google::protobuf::Value v;
    grpcapi::JsonToValue(parsed, &v);
  });
  Row("to Value (print + JsonStringToMessage before; direct now)", absl::StrCat(body.size()), old_conv, new_conv);
  double shape = Measure([&] { grpcapi::ShapeOf(parsed); });
  std::printf("| size check before building (ShapeOf) | %zu | — | %.4f | — |\n", body.size(), shape);
}

void Redaction() {
  std::printf("\n### Redacting a body for a log line or an error message (CPU seconds)\n\n");
  std::printf("| body | bytes | RedactBody (2 KiB shown) | RedactBody (whole body) |\n|---|---|---|---|\n");
  for (int n : {200'000, 2'000'000}) {
    std::string body = "<html>\"access_token\":\"" + std::string(n, 'A');
    double shown = Measure([&] { RedactBody(body); });
    double whole = Measure([&] { RedactBody(body, body.size()); });
    std::printf("| unterminated secret of %d characters | %zu | %.6f | %.6f |\n", n, body.size(), shown, whole);
  }
  std::printf(
      "\nBefore: std::regex recursed once per character and crashed the process (SIGSEGV) on the "
      "200,000-character body; there is no baseline figure.\n");
}

}  // namespace
}  // namespace b24

int main() {
  std::printf("## parse_bench\n");
  b24::Keys();
  b24::Depth();
  b24::Conversion();
  b24::Redaction();
  return 0;
}
