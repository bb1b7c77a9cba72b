// FakeTransport: a Transport that records requests and lets the test answer
// them, either at once through a responder or later by hand (Complete()).
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "service/http/transport.h"

namespace b24::testing {

class FakeTransport final : public http::Transport {
 public:
  using Responder = std::function<std::optional<absl::StatusOr<http::HttpResponse>>(const http::HttpRequest&)>;

  // Answers each request with `responder`; nullopt keeps it pending.
  void SetResponder(Responder r) {
    std::lock_guard<std::mutex> lock(mu_);
    responder_ = std::move(r);
  }

  void Send(http::HttpRequest request, http::ResponseCallback done) override {
    std::optional<absl::StatusOr<http::HttpResponse>> answer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      sent_.push_back(request);
      if (responder_) answer = responder_(request);
      if (!answer) {
        pending_.push_back({std::move(request), std::move(done)});
        return;
      }
    }
    done(std::move(*answer));
  }

  // Answers the oldest pending request. Returns false if none.
  bool Complete(absl::StatusOr<http::HttpResponse> answer) {
    http::ResponseCallback done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.empty()) return false;
      done = std::move(pending_.front().second);
      pending_.pop_front();
    }
    done(std::move(answer));
    return true;
  }

  size_t pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size();
  }
  std::vector<http::HttpRequest> sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }

  static http::HttpResponse Json(int status, std::string body) {
    http::HttpResponse r;
    r.status = status;
    r.headers = {{"content-type", "application/json"}};
    r.body = std::move(body);
    return r;
  }

 private:
  std::mutex mu_;
  Responder responder_;
  std::vector<http::HttpRequest> sent_;
  std::deque<std::pair<http::HttpRequest, http::ResponseCallback>> pending_;
};

}  // namespace b24::testing
