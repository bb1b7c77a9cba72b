"""The test stack: the real bitrix24-service in front of the b24-emulator, once per session.

B24_EMULATOR_BIN and B24_SERVICE_BIN name the binaries (defaults: the repository's build/).
Tests marked ``writes`` change the emulator's deals; they run last, so that every other test
sees the seeded deals 1..10000.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
EMULATOR_BIN = os.environ.get("B24_EMULATOR_BIN", str(REPO / "build/tests/testing/b24-emulator"))
SERVICE_BIN = os.environ.get("B24_SERVICE_BIN", str(REPO / "build/service/bitrix24-service"))
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

DEALS = 10000
PORTAL = "sandbox"  # the webhook name configured in the gateway (--webhooks.sandbox=...)
# The emulator also installs an OAuth app, so Install/ListPortals/RemovePortal can be tested.
CLIENT_ID = "local.pytest"
CLIENT_SECRET = "pytest-secret"
START_TIMEOUT = 20.0
LISTENING = re.compile(r"bitrix24-service listening on (127\.0\.0\.1:\d+)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "writes: changes the emulator's data; runs after every other test")


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("writes") is not None)  # stable sort


class Stack:
    """The running emulator and service."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.emulator: Dict[str, Any] = {}
        self.target = ""
        self.portal = PORTAL
        self.service_lines: List[str] = []
        self._procs: List["subprocess.Popen[str]"] = []

    # ---- emulator control (urllib: no third-party HTTP client) --------------------------------
    def _http(self, method: str, url: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def fault(self, kind: str, method: str = "", count: int = 1, **extra: Any) -> None:
        """Queues an emulator fault (json_error, html, empty, drop_before_execute,
        drop_after_execute, slow) for the next `count` requests of `method`."""
        answer = self._http("POST", self.emulator["portal_url"] + "emulator/faults",
                            {"kind": kind, "method": method, "count": count, **extra})
        assert "error" not in answer, answer

    def clear_faults(self) -> None:
        self._http("DELETE", self.emulator["portal_url"] + "emulator/faults")

    def stats(self) -> Dict[str, Any]:
        """The emulator's counters; the portal's are under ["portals"]["0"]."""
        stats: Dict[str, Any] = self._http("GET", self.emulator["stats_url"])
        return stats

    def portal_stats(self) -> Dict[str, Any]:
        portals = self.stats()["portals"]
        assert len(portals) == 1, portals
        only: Dict[str, Any] = next(iter(portals.values()))
        return only

    def service_log(self) -> str:
        return "".join(self.service_lines[-60:])

    # ---- processes -----------------------------------------------------------------------------
    def start(self) -> None:
        for binary in (EMULATOR_BIN, SERVICE_BIN):
            if not os.access(binary, os.X_OK):
                pytest.exit(f"{binary} is not an executable: build the project or set B24_EMULATOR_BIN / "
                            "B24_SERVICE_BIN", returncode=2)
        self._start_emulator()
        self._start_service()

    def _start_emulator(self) -> None:
        log = open(self.tmp / "emulator.log", "w")
        proc = subprocess.Popen(
            [EMULATOR_BIN, f"--deals={DEALS}", "--no-limits", "--deny-methods=crm.deal.delete",
             f"--client-id={CLIENT_ID}", f"--client-secret={CLIENT_SECRET}"],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
        self._procs.append(proc)
        lines: "queue.Queue[str]" = queue.Queue()

        def drain() -> None:  # the first line is the URLs; keep reading so the pipe never fills
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put("")  # EOF: the emulator exited

        threading.Thread(target=drain, name="emulator-stdout", daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            first = ""
        if not first:
            raise RuntimeError(f"{EMULATOR_BIN} printed no line in {START_TIMEOUT}s (exit code {proc.poll()}); "
                               f"its log: {(self.tmp / 'emulator.log').read_text()!r}")
        self.emulator = json.loads(first)
        for key in ("portal_url", "webhook_url", "oauth_url", "member_id", "stats_url"):
            assert key in self.emulator, f"the emulator's line lacks {key}: {first}"

    def _start_service(self) -> None:
        proc = subprocess.Popen(
            [SERVICE_BIN, "--listen=127.0.0.1:0", "--security.allow_loopback=true", "--security.allow_http=true",
             f"--webhooks.{PORTAL}={self.emulator['webhook_url']}",
             f"--store.url=sqlite3://db={self.tmp / 't.db'}",
             # OAuth refreshes of the installed app go to the emulator's OAuth server.
             f"--oauth.server={self.emulator['oauth_url']}", "--shutdown_grace=5s"],
            # The service logs to stdout; start-up errors go to stderr: read both.
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        self._procs.append(proc)
        listening = threading.Event()
        found: List[str] = []

        def drain() -> None:  # reads the log for the whole run, so the service never blocks on it
            assert proc.stdout is not None
            for line in proc.stdout:
                self.service_lines.append(line)
                m = LISTENING.search(line)
                if m and not listening.is_set():
                    found.append(m.group(1))
                    listening.set()
            listening.set()  # EOF: the service exited

        threading.Thread(target=drain, name="service-log", daemon=True).start()
        if not listening.wait(START_TIMEOUT) or not found:
            raise RuntimeError(f"{SERVICE_BIN} did not log 'listening on' in {START_TIMEOUT}s "
                               f"(exit {proc.poll()}):\n{self.service_log()}")
        self.target = found[0]

    def stop(self) -> List[str]:
        """SIGTERM, wait, then SIGKILL; returns complaints about unclean exits."""
        problems = []
        for proc in reversed(self._procs):
            name = os.path.basename(str(proc.args[0]))  # type: ignore[index]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
                problems.append(f"{name} ignored SIGTERM for 15 s and was killed")
                continue
            if code != 0:
                problems.append(f"{name} exited with {code} on SIGTERM")
        self._procs.clear()
        return problems


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="b24-python-tests-") as tmp:
        s = Stack(Path(tmp))
        try:
            s.start()
            yield s
        finally:
            problems = s.stop()
        if problems:
            pytest.fail("; ".join(problems) + "\n" + s.service_log())


@pytest.fixture(scope="session")
def client(stack: Stack) -> Iterator[Any]:
    from bitrix24_service import Client

    with Client(stack.target, timeout=30) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Clears emulator faults after each test that used the stack."""
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").clear_faults()


@pytest.fixture(scope="session")
def seeded_ids(client: Any, stack: Stack) -> frozenset[str]:
    """The deal IDs the emulator was seeded with, checked (not assumed) through plain Calls:
    the lowest ID, the highest ID and the count. Distinct integer IDs (a primary key) with
    min 1, max N and count N are exactly 1..N."""
    asc = client.call(stack.portal, "crm.deal.list", {"order": {"ID": "ASC"}, "select": ["ID"]})
    desc = client.call(stack.portal, "crm.deal.list", {"order": {"ID": "DESC"}, "select": ["ID"]})
    assert asc["total"] == DEALS, asc.get("total")
    assert asc["result"][0]["ID"] == "1"
    assert desc["result"][0]["ID"] == str(DEALS)
    ids = [d["ID"] for d in asc["result"]] + [d["ID"] for d in desc["result"]]
    assert all(i.isdigit() for i in ids), ids[:5]
    return frozenset(str(i) for i in range(1, DEALS + 1))


def run_example(stack: Stack, name: str, *args: str, timeout: float = 60) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, B24_TARGET=stack.target, B24_PORTAL=stack.portal, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], env=env, cwd=str(stack.tmp),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)

