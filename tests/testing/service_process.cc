#include "tests/testing/service_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace b24::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TempPath(const std::string& stem) {
  static int counter = 0;
  const char* dir = getenv("TMPDIR");
  return absl::StrCat(dir ? dir : "/tmp", "/", stem, ".", getpid(), ".", ++counter);
}

pid_t Spawn(const std::string& binary, const std::vector<std::string>& args, const std::vector<std::string>& env,
            const std::string& out_path, const std::string& err_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = err_path == out_path ? out : open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int in = open("/dev/null", O_RDONLY);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  for (const std::string& e : env) putenv(strdup(e.c_str()));
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(binary.c_str(), argv.data());
  _exit(127);
}

int WaitExit(pid_t pid, int timeout_seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

ServiceProcess::~ServiceProcess() {
  if (pid_ > 0) Kill();
}

absl::StatusOr<std::unique_ptr<ServiceProcess>> ServiceProcess::Start(const std::string& binary,
                                                                      std::vector<std::string> args,
                                                                      std::vector<std::string> env) {
  auto p = std::unique_ptr<ServiceProcess>(new ServiceProcess());
  p->log_path_ = TempPath("bitrix24-service.log");
  args.push_back("--listen=127.0.0.1:0");
  p->pid_ = Spawn(binary, args, env, p->log_path_, p->log_path_);
  constexpr char kListening[] = "listening on ";
  for (int i = 0; i < 3000; ++i) {  // up to 30 s on a loaded machine
    std::string log = ReadAll(p->log_path_);
    if (size_t at = log.find(kListening); at != std::string::npos) {
      size_t begin = at + sizeof(kListening) - 1;
      size_t end = log.find_first_not_of("0123456789.:", begin);
      if (end != std::string::npos && end > begin) {  // the whole address line is written
        p->target_ = log.substr(begin, end - begin);
        return p;
      }
    }
    int status;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      return absl::InternalError(absl::StrCat("bitrix24-service exited at start: ", log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("bitrix24-service did not start: ", ReadAll(p->log_path_)));
}

int ServiceProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int code = WaitExit(pid_, 60);
  pid_ = -1;
  return code;
}

void ServiceProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitExit(pid_, 10);
  pid_ = -1;
}

std::string ServiceProcess::Log() const { return ReadAll(log_path_); }

RunResult RunProgram(const std::string& binary, const std::vector<std::string>& args, int timeout_seconds) {
  std::string out = TempPath("run.out"), err = TempPath("run.err");
  pid_t pid = Spawn(binary, args, {}, out, err);
  RunResult r;
  r.exit_code = WaitExit(pid, timeout_seconds);
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  unlink(out.c_str());
  unlink(err.c_str());
  return r;
}

}  // namespace b24::testing
