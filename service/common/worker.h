// Worker: one thread running posted tasks in order — where blocking work
// (token-store calls) goes, so transport and timer threads never wait on a
// database. A ThreadPool of one: FIFO, Post() from any thread (including
// from a task); destruction runs the tasks already posted, then joins.
#pragma once

#include "service/common/thread_pool.h"

namespace b24 {

class Worker : public ThreadPool {
 public:
  Worker() : ThreadPool(1) {}
};

}  // namespace b24
