"""What the Python e2e tests share: waiting for a condition, and the real bitrix24-service
on ephemeral ports with its log read from stdout or from log.file (Debian's python3, stdlib)."""
import os
import re
import signal
import subprocess
import threading
import time


def wait_for(what, predicate, timeout=30):
    """Polls `predicate` until it returns something true, and returns that."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class Service:
    """bitrix24-service on 127.0.0.1:0; `target` is the port it logged, `metrics_url` its /metrics
    when metrics.listen is set. A start that fails kills the process before raising."""

    def __init__(self, binary, args, b24ctl=None, log_file=None):
        self.lines = []
        self.log_file = log_file
        self.b24ctl_path = b24ctl
        self.proc = subprocess.Popen([binary, "--listen=127.0.0.1:0", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.target = wait_for("the gRPC port", lambda: self.find(r"listening on (127\.0\.0\.1:\d+)"), 20)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            raise
        self.metrics_url = self.find(r"metrics on (http://127\.0\.0\.1:\d+/metrics)")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def log(self):
        if self.log_file:
            if not os.path.exists(self.log_file):
                return ""
            with open(self.log_file, errors="replace") as f:
                return f.read()
        return "".join(self.lines)

    def find(self, pattern):
        """The first group of `pattern` in the log so far, or None; raises if the service exited."""
        if self.proc.poll() is not None:
            raise AssertionError(f"bitrix24-service exited {self.proc.returncode}:\n{self.log()}")
        m = re.search(pattern, self.log())
        return m.group(1) if m else None

    def b24ctl(self, *args, timeout=60):
        return subprocess.run([self.b24ctl_path, "--target", self.target, *args], capture_output=True, text=True,
                              timeout=timeout)

    def health(self):
        r = self.b24ctl("--timeout", "5", "health", timeout=30)
        return r.stdout.strip() or r.stderr.strip()

    def stop(self):
        """SIGTERM; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self.proc.stdout.close()
