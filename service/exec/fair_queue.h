// FairQueue: the jobs waiting for one portal, served fairly across callers
// (start-time fair queueing).
//
// Each caller's next job is tagged after that caller's previous job and
// after the tag of the last job dispatched (the virtual time), and jobs are
// served in tag order: a caller with a thousand queued jobs delays another
// caller's single job by at most one. A job put back for a retry keeps its
// tag, so it keeps its place. Callers with nothing queued are forgotten once
// more than kMaxRememberedCallers are known.
//
// A value type: no locks; the executor serialises calls under its own lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace b24::exec {

// How many callers' last tags are kept before idle ones are forgotten (a
// forgotten caller simply starts at the virtual time again).
inline constexpr size_t kMaxRememberedCallers = 1000;

template <class T>
class FairQueue {
 public:
  using Map = std::multimap<uint64_t, T>;
  using iterator = typename Map::iterator;

  // Queues `item` for `caller`; returns its tag.
  uint64_t Push(const std::string& caller, T item) {
    uint64_t& last = last_tag_[caller];
    uint64_t tag = last = std::max(last, virtual_time_) + 1;
    queue_.emplace(tag, std::move(item));
    if (last_tag_.size() > kMaxRememberedCallers) {
      for (auto it = last_tag_.begin(); it != last_tag_.end();) {
        it = it->second <= virtual_time_ ? last_tag_.erase(it) : std::next(it);
      }
    }
    return tag;
  }
  // Puts back a job taken out with Erase() under its old tag.
  void Requeue(uint64_t tag, T item) { queue_.emplace(tag, std::move(item)); }

  // Jobs in service order.
  iterator begin() { return queue_.begin(); }
  iterator end() { return queue_.end(); }
  iterator Erase(iterator it) { return queue_.erase(it); }
  // The job tagged `tag` was dispatched: the virtual time moves to it.
  void Dispatched(uint64_t tag) { virtual_time_ = std::max(virtual_time_, tag); }

  // Takes every queued job out (shutdown).
  std::vector<T> Clear() {
    std::vector<T> out;
    for (auto& [tag, item] : queue_) out.push_back(std::move(item));
    queue_.clear();
    return out;
  }
  size_t size() const { return queue_.size(); }
  bool empty() const { return queue_.empty(); }
  size_t remembered_callers() const { return last_tag_.size(); }

 private:
  Map queue_;
  uint64_t virtual_time_ = 0;  // tag of the last job dispatched
  std::map<std::string, uint64_t> last_tag_;
};

}  // namespace b24::exec
