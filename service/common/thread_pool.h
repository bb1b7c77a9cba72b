// ThreadPool: a fixed number of threads running posted tasks — where the
// transport delivers completions, so parsing and converting an answer (CPU
// work proportional to its size) never runs on the thread that drives every
// portal's connections.
//
// Tasks run in no particular order across threads. Destruction (or Stop())
// runs every task already posted, including those posted by running tasks,
// then joins. Thread-safety: Post() from any thread, including from a task.
// Callbacks may run inline, before the call returns, never under a lock of
// this class; callers must not hold a lock their callback takes
// (docs/architecture.md, "Callbacks and locks").
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace b24 {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~ThreadPool() { Stop(); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Post(std::function<void()> task) {
    {
      absl::MutexLock lock(&mu_);
      if (!stopped_) {
        tasks_.push_back(std::move(task));
        cv_.Signal();
        return;
      }
    }
    task();  // after Stop(): run on the caller's thread rather than drop it
  }

  // Runs what is queued, then joins the threads. Idempotent.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.SignalAll();
    }
    for (std::thread& t : threads_) t.join();
    // Tasks posted between the last thread's exit and now run here.
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        if (tasks_.empty()) {
          stopped_ = true;
          return;
        }
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        while (!stopping_ && tasks_.empty()) cv_.Wait(&mu_);
        if (tasks_.empty()) return;  // stopping, all done
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // threads exit once the queue is empty
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;   // threads joined: Post() runs inline
  std::vector<std::thread> threads_;
};

}  // namespace b24
