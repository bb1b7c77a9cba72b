// StoreHealth: whether the token store answers, for the gRPC health service.
//
// Every `interval` a Ping() goes to the store on a thread of its own (the
// timer thread never waits on a database). The store is healthy while the
// last ping succeeded and none has been outstanding longer than `timeout`
// (a database that stopped answering is as down as one that refuses). Each
// change is reported once through `report` (serving or not, and why) and
// logged: WARNING when the store goes down, INFO when it is back.
//
// The decision is the pure function StoreHealthDecide(), table-tested.
//
// Thread-safety: every method may be called from any thread. `report` runs on
// the ping thread or the clock's timer thread, never under a lock of this
// class; it must not call back into it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/common/log.h"

namespace b24::app {

struct StoreHealthOptions {
  absl::Duration interval = absl::Seconds(5);  // between pings
  absl::Duration timeout = absl::Seconds(10);  // a ping outstanding this long counts as down
};

// What the last probe says, as of `now`.
struct StoreProbe {
  bool outstanding = false;  // a ping was sent and has not answered
  absl::Time sent;           // when it was sent (when outstanding)
  absl::Status last;         // result of the last ping that answered
};

struct StoreVerdict {
  bool serving = true;
  std::string why;  // "" when serving
};

StoreVerdict StoreHealthDecide(const StoreProbe& probe, absl::Time now, absl::Duration timeout);

class StoreHealth {
 public:
  using Report = std::function<void(bool serving, const std::string& why)>;
  using Post = std::function<void(std::function<void()>)>;
  // `ping` runs through `post` (a thread that may block on the database);
  // the schedule runs on `clock`.
  StoreHealth(std::function<absl::Status()> ping, Post post, Clock& clock, Logger& log, StoreHealthOptions options,
              Report report);
  ~StoreHealth();  // Stop()
  StoreHealth(const StoreHealth&) = delete;
  StoreHealth& operator=(const StoreHealth&) = delete;
  // Sends the first ping now and schedules the next ones.
  void Start();
  // No more pings or reports after it returns (waits for a report in
  // progress, not for an outstanding ping). Idempotent.
  void Stop();
  bool serving() const;

 private:
  struct State;  // shared with the timers and pings, which may outlive this object
  std::shared_ptr<State> state_;
};

}  // namespace b24::app
