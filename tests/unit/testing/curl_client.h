// CurlClient: the smallest libcurl easy wrapper the emulator tests need to send
// real HTTP requests. One easy handle per client, so consecutive requests reuse
// the connection (keep-alive). Redirects are not followed. Not thread-safe;
// use one client per thread.
#pragma once

#include <curl/curl.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace b24::testing {

struct CurlResponse {
  CURLcode code = CURLE_OK;
  long status = 0;  // NOLINT(runtime/int): libcurl's type
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  absl::Duration elapsed;
  bool reused_connection = false;

  // The body parsed as ordered JSON (discarded value when it is not JSON).
  nlohmann::ordered_json json() const {
    return nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  }
};

class CurlClient {
 public:
  CurlClient() {
    static const bool init = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
    (void)init;
    curl_ = curl_easy_init();
  }
  ~CurlClient() { curl_easy_cleanup(curl_); }
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;

  CurlResponse Get(const std::string& url, const std::vector<std::string>& headers = {}) {
    return Perform("GET", url, nullptr, "", headers);
  }
  CurlResponse Post(const std::string& url, const std::string& body, const std::string& content_type,
                    const std::vector<std::string>& headers = {}) {
    return Perform("POST", url, &body, content_type, headers);
  }
  CurlResponse PostJson(const std::string& url, const nlohmann::ordered_json& body) {
    return Post(url, body.dump(), "application/json");
  }

 private:
  static size_t OnBody(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  }
  static size_t OnHeader(char* data, size_t size, size_t n, void* out) {
    absl::string_view line(data, size * n);
    size_t colon = line.find(':');
    if (colon != absl::string_view::npos) {
      (*static_cast<std::map<std::string, std::string>*>(out))[absl::AsciiStrToLower(line.substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
    return size * n;
  }

  CurlResponse Perform(const char* method, const std::string& url, const std::string* body,
                       const std::string& content_type, const std::vector<std::string>& headers) {
    CurlResponse r;
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r.headers);
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    if (body != nullptr) {
      curl_easy_setopt(curl_, CURLOPT_POST, 1L);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body->data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      list = curl_slist_append(list, ("Content-Type: " + content_type).c_str());
    } else {
      curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
    absl::Time start = absl::Now();
    r.code = curl_easy_perform(curl_);
    r.elapsed = absl::Now() - start;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    long connects = 0;  // NOLINT(runtime/int)
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &connects);
    r.reused_connection = r.code == CURLE_OK && connects == 0;
    curl_slist_free_all(list);
    return r;
  }

  CURL* curl_;
};

}  // namespace b24::testing
