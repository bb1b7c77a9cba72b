// ServiceProcess: runs the real bitrix24-service binary for e2e tests.
//
// Starts it with the given flags on 127.0.0.1:0, its output going to a log
// file (CTest would otherwise wait for the inherited pipe), waits until it
// logs the port it bound, and stops it with SIGTERM, returning the exit code.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace b24::testing {

class ServiceProcess {
 public:
  ~ServiceProcess();
  // `binary` is a program path; `args` its flags (--listen is added).
  static absl::StatusOr<std::unique_ptr<ServiceProcess>> Start(const std::string& binary, std::vector<std::string> args,
                                                               std::vector<std::string> env = {});
  const std::string& target() const { return target_; }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits; returns the exit status (128+signal if killed).
  int Stop();
  // Sends SIGKILL and waits.
  void Kill();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::string target_;
  std::string log_path_;
};

// Runs a program to completion with a time limit; returns {exit code, stdout}.
struct RunResult {
  int exit_code = -1;
  std::string out, err;
};
RunResult RunProgram(const std::string& binary, const std::vector<std::string>& args, int timeout_seconds = 30);

}  // namespace b24::testing
