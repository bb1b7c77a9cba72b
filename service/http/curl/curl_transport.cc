#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/http/curl/curl_transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <deque>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "service/common/log.h"
#include "service/common/status.h"
#include "service/common/thread_pool.h"

namespace b24::http {
namespace {

struct Transfer {
  HttpRequest request;
  ResponseCallback done;
  HttpResponse response;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  bool blocked_address = false;
  size_t max_body = 0;  // 0 = no cap
  bool too_large = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  if (t->max_body > 0 && t->response.body.size() + bytes > t->max_body) {
    t->too_large = true;
    return 0;  // curl aborts the transfer with CURLE_WRITE_ERROR
  }
  t->response.body.append(data, bytes);
  return bytes;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view line(data, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    t->response.headers.clear();  // a new response (e.g. after 100 Continue)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    t->response.headers.emplace_back(absl::AsciiStrToLower(line.substr(0, colon)),
                                     std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return size * n;
}

bool IsLoopbackAddress(const curl_sockaddr* address) {
  if (address->family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address->addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127 || in->sin_addr.s_addr == 0;
  }
  if (address->family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address->addr);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

curl_socket_t OpenSocket(void* user, curlsocktype, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  if (IsLoopbackAddress(address)) {
    t->blocked_address = true;
    return CURL_SOCKET_BAD;
  }
  t->blocked_address = false;  // another address of the host is used instead
  return socket(address->family, address->socktype, address->protocol);
}

absl::Status CurlError(CURLcode code, Transfer& t) {
  std::string what = absl::StrCat(curl_easy_strerror(code), t.error[0] ? absl::StrCat(": ", t.error) : "", " (",
                                  RedactUrl(t.request.url), ")");
  curl_off_t sent = 0;
  curl_easy_getinfo(t.easy, CURLINFO_REQUEST_SIZE, &sent);
  auto maybe_not_sent = [&](absl::Status s) { return sent == 0 ? MarkNotSent(std::move(s)) : s; };
  if (t.blocked_address) {
    return MarkNotSent(GatewayError(
        absl::StatusCode::kInvalidArgument, "HOST_NOT_ALLOWED",
        absl::StrCat("refused to connect: the host of ", RedactUrl(t.request.url),
                     " resolves to a loopback address (set security.allow_loopback=true for local testing)")));
  }
  if (t.too_large) {
    return GatewayError(absl::StatusCode::kResourceExhausted, "UPSTREAM_RESPONSE_TOO_LARGE",
                        absl::StrCat("the answer from ", RedactUrl(t.request.url), " exceeded ", t.max_body,
                                     " bytes after decompression (http.max_response_bytes); the transfer was aborted"));
  }
  switch (code) {
    case CURLE_URL_MALFORMAT:
      return MarkNotSent(GatewayError(absl::StatusCode::kInvalidArgument, "INVALID_URL",
                                      absl::StrCat("the URL is malformed: ", what)));
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return MarkNotSent(absl::UnavailableError(what));
    case CURLE_OPERATION_TIMEDOUT:
      return maybe_not_sent(absl::DeadlineExceededError(absl::StrCat("upstream request timed out: ", what)));
    default:
      return maybe_not_sent(absl::UnavailableError(what));
  }
}

}  // namespace

struct CurlTransport::Impl {
  CurlOptions options;
  CURLM* multi = nullptr;
  CURLSH* share = nullptr;
  absl::Mutex mu;
  std::deque<Transfer*> incoming ABSL_GUARDED_BY(mu);
  std::set<Transfer*> active;  // added to `multi`; loop thread only
  bool stop ABSL_GUARDED_BY(mu) = false;
  std::thread thread;
  std::unique_ptr<ThreadPool> callbacks;

  void Loop();
  void Start(Transfer* t);
  void Finish(Transfer* t, absl::StatusOr<HttpResponse> result);
};

CurlTransport::CurlTransport(CurlOptions options) : impl_(std::make_unique<Impl>()) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  impl_->options = std::move(options);
  impl_->callbacks = std::make_unique<ThreadPool>(impl_->options.callback_threads);
  impl_->multi = curl_multi_init();
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_HOST_CONNECTIONS, impl_->options.max_connections_per_host);
  curl_multi_setopt(impl_->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

CurlTransport::~CurlTransport() {
  Shutdown();
  curl_multi_cleanup(impl_->multi);
}

void CurlTransport::Shutdown() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stop = true;
  }
  curl_multi_wakeup(impl_->multi);
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->callbacks->Stop();  // runs the completions still queued
}

void CurlTransport::Send(HttpRequest request, ResponseCallback done) {
  auto* t = new Transfer{std::move(request), std::move(done)};
  {
    absl::MutexLock lock(&impl_->mu);
    if (!impl_->stop) {
      impl_->incoming.push_back(t);
      t = nullptr;
    }
  }
  if (t) {
    impl_->Finish(t, MarkNotSent(absl::CancelledError("the HTTP transport is shutting down")));
    return;
  }
  curl_multi_wakeup(impl_->multi);
}

void CurlTransport::Impl::Start(Transfer* t) {
  absl::Duration left = t->request.timeout;
  if (left <= absl::ZeroDuration()) {
    Finish(t, MarkNotSent(absl::DeadlineExceededError("deadline passed before the request was sent")));
    return;
  }
  t->max_body = options.max_response_bytes;
  CURL* e = t->easy = curl_easy_init();
  if (!e) {
    Finish(t, MarkNotSent(absl::ResourceExhaustedError("libcurl could not create a transfer (out of memory?)")));
    return;
  }
  curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  long connect_ms = static_cast<long>(absl::ToInt64Milliseconds(std::min(options.connect_timeout, left)));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, connect_ms));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, std::max(1L, static_cast<long>(absl::ToInt64Milliseconds(left))));
  if (!t->request.idempotent) curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  if (!options.allow_loopback_addresses) {
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
  }
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  if (t->request.method == "POST") {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->request.body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.body.data());
  } else if (t->request.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->request.method.c_str());
  }
  t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip
  for (const auto& [k, v] : t->request.headers) {
    t->headers = curl_slist_append(t->headers, absl::StrCat(k, ": ", v).c_str());
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  if (CURLMcode added = curl_multi_add_handle(multi, e); added != CURLM_OK) {
    Finish(t, MarkNotSent(
                  absl::UnavailableError(absl::StrCat("libcurl refused the transfer: ", curl_multi_strerror(added)))));
    return;
  }
  active.insert(t);
}

void CurlTransport::Impl::Finish(Transfer* t, absl::StatusOr<HttpResponse> result) {
  if (t->easy) {
    active.erase(t);
    curl_multi_remove_handle(multi, t->easy);
    curl_easy_cleanup(t->easy);
  }
  curl_slist_free_all(t->headers);
  ResponseCallback done = std::move(t->done);
  delete t;
  // Off the curl thread: what the callback does (parse, convert) may take a while.
  callbacks->Post([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
}

void CurlTransport::Impl::Loop() {
  for (;;) {
    std::deque<Transfer*> fresh;
    bool stopping;
    {
      absl::MutexLock lock(&mu);
      fresh.swap(incoming);
      stopping = stop;
    }
    if (stopping) {
      for (Transfer* t : fresh) Finish(t, MarkNotSent(absl::CancelledError("the HTTP transport is shutting down")));
      while (!active.empty()) Finish(*active.begin(), absl::CancelledError("the HTTP transport is shutting down"));
      return;
    }
    for (Transfer* t : fresh) Start(t);
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      if (msg->data.result != CURLE_OK) {
        Finish(t, CurlError(msg->data.result, *t));
        continue;
      }
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      t->response.status = static_cast<int>(status);
      HttpResponse response = std::move(t->response);
      Finish(t, std::move(response));
    }
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
}

}  // namespace b24::http
