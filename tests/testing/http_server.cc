#include "tests/testing/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace b24::testing {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 512 * 1024 * 1024;

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

enum class Parse { kDone, kNeedMore, kBad };

// Decodes a chunked body starting at buf[pos]. On kDone sets *body and *end
// (index just past the message).
Parse DecodeChunked(const std::string& buf, size_t pos, std::string* body, size_t* end) {
  body->clear();
  for (;;) {
    size_t eol = buf.find("\r\n", pos);
    if (eol == std::string::npos) return buf.size() - pos > 1024 ? Parse::kBad : Parse::kNeedMore;
    absl::string_view line(buf.data() + pos, eol - pos);
    line = line.substr(0, line.find(';'));
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.size() > 15) return Parse::kBad;
    size_t size = 0;
    for (char c : line) {
      int d = HexDigit(c);
      if (d < 0) return Parse::kBad;
      size = size * 16 + static_cast<size_t>(d);
    }
    pos = eol + 2;
    if (size == 0) {  // Trailer section ends with an empty line.
      if (buf.size() < pos + 2) return Parse::kNeedMore;
      if (buf.compare(pos, 2, "\r\n") == 0) {
        *end = pos + 2;
        return Parse::kDone;
      }
      size_t trailer_end = buf.find("\r\n\r\n", pos);
      if (trailer_end == std::string::npos) return Parse::kNeedMore;
      *end = trailer_end + 4;
      return Parse::kDone;
    }
    if (body->size() + size > kMaxBodyBytes) return Parse::kBad;
    if (buf.size() < pos + size + 2) return Parse::kNeedMore;
    if (buf.compare(pos + size, 2, "\r\n") != 0) return Parse::kBad;
    body->append(buf, pos, size);
    pos += size + 2;
  }
}

// Parses request line and headers (text before the blank line).
bool ParseHead(absl::string_view head, HttpServerRequest* req, std::string* version) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  if (lines.empty()) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) return false;
  for (char c : parts[0]) {
    if (!absl::ascii_isupper(static_cast<unsigned char>(c))) return false;
  }
  if (!absl::StartsWith(parts[2], "HTTP/1.")) return false;
  req->method = std::string(parts[0]);
  *version = std::string(parts[2]);
  absl::string_view target = parts[1];
  if (absl::StartsWith(target, "http://") || absl::StartsWith(target, "https://")) {
    size_t slash = target.find('/', target.find("//") + 2);
    target = slash == absl::string_view::npos ? absl::string_view("/") : target.substr(slash);
  }
  if (target[0] != '/') return false;
  req->target = std::string(target);
  size_t q = target.find('?');
  absl::string_view raw_path = target.substr(0, q);
  if (q != absl::string_view::npos) req->query = std::string(target.substr(q + 1));
  size_t hash = req->query.find('#');
  if (hash != std::string::npos) req->query.resize(hash);
  req->raw_path = std::string(raw_path);
  req->path = PercentDecode(raw_path);
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) return false;
    absl::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (c == ' ' || c == '\t') return false;
    }
    std::string key = absl::AsciiStrToLower(name);
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    auto [it, inserted] = req->headers.emplace(key, value);
    if (!inserted) absl::StrAppend(&it->second, ", ", value);
  }
  return true;
}

void Close(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

std::string HttpServerRequest::Header(absl::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

HttpServer::HttpServer(HttpHandler handler) : handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(int port) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return absl::FailedPreconditionError("HttpServer already started");
    started_ = true;
  }
  if (::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 1024) != 0) {
    std::string err = std::strerror(errno);
    Close(listen_fd_);
    listen_fd_ = -1;
    return absl::UnavailableError(absl::StrCat("bind 127.0.0.1:", port, ": ", err));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool was_stopping = stopping_;
    stopping_ = true;
    if (!started_) return;
    // Unblocks connection threads stuck in send() to a client that does not read.
    if (!was_stopping) {
      for (auto& [id, fd] : live_fds_) ::shutdown(fd, SHUT_RDWR);
    }
  }
  stop_cv_.notify_all();
  if (wake_fds_[1] >= 0) {
    char c = 'x';
    [[maybe_unused]] ssize_t n = ::write(wake_fds_[1], &c, 1);
  }
  if (acceptor_.joinable()) acceptor_.join();
  for (;;) {
    std::vector<std::thread> to_join;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [id, t] : threads_) to_join.push_back(std::move(t));
      threads_.clear();
      finished_.clear();
    }
    if (to_join.empty()) break;
    for (auto& t : to_join) t.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  Close(listen_fd_);
  listen_fd_ = -1;
  Close(wake_fds_[0]);
  Close(wake_fds_[1]);
  wake_fds_[0] = wake_fds_[1] = -1;
}

void HttpServer::ReapFinishedLocked(std::vector<std::thread>* to_join) {
  for (uint64_t id : finished_) {
    auto node = threads_.extract(id);
    if (!node.empty()) to_join->push_back(std::move(node.mapped()));
  }
  finished_.clear();
}

void HttpServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (rc <= 0 || (fds[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::vector<std::thread> to_join;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        Close(fd);
        return;
      }
      uint64_t id = next_id_++;
      live_fds_[id] = fd;
      // Constructed under mu_, so the thread cannot report itself finished
      // before it is in threads_.
      threads_.emplace(id, std::thread([this, fd, id] { Serve(fd, id); }));
      ReapFinishedLocked(&to_join);
    }
    for (auto& t : to_join) t.join();
  }
}

bool HttpServer::ReadMore(int fd, std::string* buf) {
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[1].revents != 0) return false;
    char chunk[64 * 1024];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf->append(chunk, static_cast<size_t>(n));
    return true;
  }
}

bool HttpServer::SleepUnlessStopped(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stopping_; });
  return !stopping_;
}

void HttpServer::Serve(int fd, uint64_t id) {
  std::string buf;
  auto bad_request = [fd] {
    SendAll(fd,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
            "Content-Length: 11\r\nConnection: close\r\n\r\nBad Request");
  };
  for (;;) {
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > kMaxHeaderBytes) {
        bad_request();
        goto done;
      }
      if (!ReadMore(fd, &buf)) goto done;
    }
    {
      HttpServerRequest req;
      std::string version;
      if (!ParseHead(absl::string_view(buf).substr(0, head_end), &req, &version)) {
        bad_request();
        break;
      }
      std::string te = absl::AsciiStrToLower(req.Header("transfer-encoding"));
      std::string cl = req.Header("content-length");
      bool chunked = !te.empty();
      if (chunked && te != "chunked") {
        bad_request();
        break;
      }
      size_t length = 0;
      if (!chunked && !cl.empty() && (!absl::SimpleAtoi(cl, &length) || length > kMaxBodyBytes)) {
        bad_request();
        break;
      }
      size_t body_start = head_end + 4;
      bool has_body = chunked || length > 0;
      if (has_body && absl::EqualsIgnoreCase(req.Header("expect"), "100-continue") && buf.size() == body_start) {
        if (!SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) break;
      }
      size_t message_end;
      if (chunked) {
        Parse p;
        while ((p = DecodeChunked(buf, body_start, &req.body, &message_end)) == Parse::kNeedMore) {
          if (!ReadMore(fd, &buf)) goto done;
        }
        if (p == Parse::kBad) {
          bad_request();
          break;
        }
      } else {
        while (buf.size() < body_start + length) {
          if (!ReadMore(fd, &buf)) goto done;
        }
        req.body = buf.substr(body_start, length);
        message_end = body_start + length;
      }
      buf.erase(0, message_end);

      std::string connection = absl::AsciiStrToLower(req.Header("connection"));
      bool keep_alive = version == "HTTP/1.0" ? connection == "keep-alive" : connection != "close";

      HttpServerResponse resp;
      try {
        handler_(req, &resp);
      } catch (...) {
        resp = HttpServerResponse();
        resp.status = 500;
        resp.headers = {{"Content-Type", "text/plain"}};
        resp.body = "handler threw";
      }
      if (resp.delay > absl::ZeroDuration() && !SleepUnlessStopped(resp.delay)) break;
      if (resp.drop_connection) break;
      std::string out = absl::StrCat("HTTP/1.1 ", resp.status, " ", Reason(resp.status), "\r\n");
      for (const auto& [name, value] : resp.headers) {
        if (absl::EqualsIgnoreCase(name, "content-length") || absl::EqualsIgnoreCase(name, "transfer-encoding")) {
          continue;
        }
        if (absl::EqualsIgnoreCase(name, "connection")) {
          if (absl::EqualsIgnoreCase(value, "close")) keep_alive = false;
          continue;
        }
        absl::StrAppend(&out, name, ": ", value, "\r\n");
      }
      absl::StrAppend(&out, "Content-Length: ", resp.body.size(), "\r\n",
                      keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n", "\r\n");
      if (req.method != "HEAD") out += resp.body;
      if (!SendAll(fd, out) || !keep_alive) break;
    }
  }
done:
  std::lock_guard<std::mutex> lock(mu_);
  live_fds_.erase(id);
  Close(fd);
  finished_.push_back(id);
}

}  // namespace b24::testing
