#!/usr/bin/python3
"""Metrics, logs and health of the real bitrix24-service, end to end.

Usage: observability_test.py B24CTL SERVICE EMULATOR   (CTest passes the built binaries)

- /metrics after a known sequence of calls (successes, a 503 QUERY_LIMIT_EXCEEDED that is
  retried, a method the portal does not know, an OAuth install whose token is refreshed, a
  refresh the OAuth server refuses, an export) has the series with the right counts, and no
  label carries a token or the webhook code;
- a DEBUG log of that sequence (webhooks, OAuth, install) holds none of the tokens, secrets
  or the webhook code used, in text and JSON formats and in a rotated log file;
- gRPC health is NOT_SERVING while the token store (PostgreSQL behind a TCP proxy this test
  controls) cannot be reached, SERVING again when it can, and SERVING throughout for a
  webhook-only gateway (store.url=none).
"""
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import harness
from harness import wait_for

B24CTL = SERVICE = EMULATOR = ""
CLIENT_ID, CLIENT_SECRET = "local.observability.test", "client-secret-9d2f71c4e8"
WEBHOOK_CODE = "whcode4b8e2a91f0c3"
BAD_REFRESH = "bad-refresh-token-7c1e05"
DEALS = 120
HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


class Emulator:
    def __init__(self):
        self.proc = subprocess.Popen(
            [EMULATOR, f"--deals={DEALS}", "--no-limits", f"--webhook-code={WEBHOOK_CODE}",
             f"--client-id={CLIENT_ID}", f"--client-secret={CLIENT_SECRET}"],
            stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())

    def fault(self, fault):
        req = urllib.request.Request(self.info["portal_url"] + "emulator/faults", data=json.dumps(fault).encode(),
                                     method="POST")
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc.stdout.close()


class Service(harness.Service):
    def __init__(self, args, log_file=None):
        super().__init__(SERVICE, args, b24ctl=B24CTL, log_file=log_file)

    def scrape(self):
        with urllib.request.urlopen(self.metrics_url, timeout=10) as r:
            content_type = r.headers.get("Content-Type", "")
            if not content_type.startswith("text/plain"):
                raise AssertionError("Content-Type " + content_type)
            return r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(s, name, **labels):
    want = set(labels.items())
    found = [v for (n, ls), v in s.items() if n == name and want <= set(ls)]
    return sum(found) if found else None


class ObservabilityTest(unittest.TestCase):
    # An emulator of its own for each test: the sequence refreshes the app's tokens.
    def setUp(self):
        self.emulator = Emulator()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.emulator.stop()
        self.tmp.cleanup()

    def service_args(self, name):
        info = self.emulator.info
        return ["--security.allow_loopback=true", "--security.allow_http=true",
                "--webhooks.sandbox=" + info["webhook_url"], "--oauth.server=" + info["oauth_url"],
                "--limits.burst=1000", "--limits.drain_per_second=1000", "--log.level=debug",
                f"--store.url=sqlite3://db={self.tmp.name}/{name}.db", "--metrics.listen=127.0.0.1:0"]

    def sequence(self, svc):
        """The known sequence; returns the secrets it used."""
        info = self.emulator.info
        for i in (1, 2, 3):
            r = svc.b24ctl("call", "sandbox", "crm.deal.get", json.dumps({"id": i}))
            self.assertEqual(r.returncode, 0, r.stderr)
        # One 503 QUERY_LIMIT_EXCEEDED: the gateway paces and retries, the caller sees the deal.
        self.emulator.fault({"kind": "json_error", "status": 503, "error": "QUERY_LIMIT_EXCEEDED",
                             "error_description": "Too many requests", "method": "crm.deal.get", "count": 1})
        r = svc.b24ctl("call", "sandbox", "crm.deal.get", '{"id": 4}')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = svc.b24ctl("call", "sandbox", "crm.nosuch.method", "{}")
        self.assertEqual(r.returncode, 1, r.stdout)
        # OAuth installs whose access token has already expired: the first call refreshes it.
        domain = info["portal_url"][len("http://"):].rstrip("/")
        fields = {"event": "ONAPPINSTALL", "auth[access_token]": info["access_token"],
                  "auth[refresh_token]": info["refresh_token"], "auth[expires_in]": "3600",
                  "auth[expires]": str(int(time.time()) - 60),
                  "auth[member_id]": info["member_id"], "auth[domain]": domain,
                  "auth[client_endpoint]": info["portal_url"] + "rest/",
                  "auth[server_endpoint]": info["server_endpoint"],
                  "auth[application_token]": info["application_token"]}
        env = dict(os.environ, B24_CLIENT_SECRET=CLIENT_SECRET)

        def install(f):
            args = [B24CTL, "--target", svc.target, "install", "--client-id", CLIENT_ID, "--event"]
            for k, v in f.items():
                args += ["--field", f"{k}={v}"]
            r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)

        # First with a refresh token the OAuth server refuses: the portal must be reinstalled.
        install(dict(fields, **{"auth[refresh_token]": BAD_REFRESH}))
        r = svc.b24ctl("call", info["member_id"], "crm.deal.get", '{"id": 5}')
        self.assertEqual(r.returncode, 3, r.stderr)
        # Reinstalled with the real one: refreshed, then called.
        install(fields)
        r = svc.b24ctl("call", info["member_id"], "crm.deal.get", '{"id": 5}')
        self.assertEqual(r.returncode, 0, r.stderr)
        out = os.path.join(self.tmp.name, "deals.jsonl")
        r = svc.b24ctl("getall", "sandbox", "crm.deal.list", "{}", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            self.assertEqual(sum(1 for _ in f), DEALS)
        return [WEBHOOK_CODE, CLIENT_SECRET, BAD_REFRESH, info["access_token"], info["refresh_token"],
                info["application_token"]]

    def assert_no_secrets(self, text, secrets, where):
        self.assertGreater(len(text), 1000, where)
        for s in secrets:
            self.assertNotIn(s, text, f"{where} holds a secret")
        m = HEX64.search(text)
        self.assertIsNone(m, f"{where} holds a 64-hex token: {m and text[max(0, m.start() - 200):m.end() + 50]}")

    def test_metrics_after_a_known_sequence(self):
        svc = Service(self.service_args("metrics"))
        try:
            self.assertTrue(svc.metrics_url, svc.log())
            self.sequence(svc)
            text = svc.scrape()
            s = samples(text)
            host = self.emulator.info["portal_url"][len("http://"):].rstrip("/")
            call = "bitrix24.v1.Bitrix24Service/Call"
            self.assertEqual(value(s, "bitrix24_rpc_total", method=call, code="OK"), 5, text)
            self.assertEqual(value(s, "bitrix24_rpc_total", method=call), 7, text)  # + not found + reinstall
            self.assertEqual(value(s, "bitrix24_rpc_total", method="bitrix24.v1.Bitrix24Service/Install", code="OK"),
                             2, text)
            self.assertEqual(value(s, "bitrix24_rpc_total", method="bitrix24.v1.Bitrix24Service/GetAll", code="OK"),
                             1, text)
            self.assertEqual(value(s, "bitrix24_rpc_duration_seconds_count", method=call), 7, text)
            # crm.deal.get on the portal: 4 webhook calls + the 503's retry + 1 OAuth call.
            self.assertEqual(value(s, "bitrix24_upstream_requests_total", method="crm.deal.get", portal=host), 6, text)
            self.assertEqual(value(s, "bitrix24_upstream_answers_total", method="crm.deal.get", portal=host,
                                   outcome="rate_limited"), 1, text)
            self.assertEqual(value(s, "bitrix24_upstream_answers_total", method="crm.deal.get", portal=host,
                                   outcome="success"), 5, text)
            self.assertEqual(value(s, "bitrix24_upstream_retries_total", method="crm.deal.get", portal=host), 1, text)
            self.assertEqual(value(s, "bitrix24_upstream_answers_total", method="crm.nosuch.method", portal=host,
                                   outcome="final"), 1, text)
            self.assertEqual(value(s, "bitrix24_upstream_failures_total", method="crm.nosuch.method", portal=host), 1,
                             text)
            self.assertEqual(value(s, "bitrix24_token_refreshes_total"), 2, text)
            self.assertEqual(value(s, "bitrix24_token_refresh_failures_total"), 1, text)
            self.assertEqual(value(s, "bitrix24_getall_items_total"), DEALS, text)
            self.assertGreater(value(s, "bitrix24_getall_bytes_total"), DEALS * 50, text)
            self.assertEqual(value(s, "bitrix24_log_dropped_lines_total"), 0, text)
            # The export's pages went out in batches.
            self.assertGreater(value(s, "bitrix24_upstream_requests_total", method="batch", portal=host), 0, text)
            for name in ("bitrix24_bucket_level", "bitrix24_bucket_drain_per_second", "bitrix24_in_flight_requests",
                         "bitrix24_executor_queue_depth"):
                self.assertIsNotNone(value(s, name, portal=host), name)
            # The configured drain, less the executor's safety margin.
            drain = value(s, "bitrix24_bucket_drain_per_second", portal=host)
            self.assertTrue(0 < drain <= 1000, drain)
            self.assertEqual(value(s, "bitrix24_in_flight_requests", portal=host), 0, text)
            self.assertIsNotNone(value(s, "bitrix24_limit_wait_seconds_total", limit="bucket", portal=host), text)
            self.assertIsNotNone(value(s, "bitrix24_limit_wait_seconds_total", limit="budget", portal=host), text)
            # Label values stay bounded: RPC methods are gRPC paths, every other value is a host, a
            # method name, an outcome or a code: never a URL path (a webhook code) or a token.
            for (name, labels), _ in s.items():
                for k, v in labels:
                    if name.startswith("bitrix24_rpc_") and k == "method":
                        self.assertRegex(v, r"^[\w.]+/\w+$", name)
                    else:
                        self.assertRegex(v, r"^[\w.:+-]+$", (name, k, v))
            self.assert_no_secrets_in_metrics(text)
        finally:
            self.assertEqual(svc.stop(), 0)

    def assert_no_secrets_in_metrics(self, text):
        info = self.emulator.info
        for secret in (WEBHOOK_CODE, CLIENT_SECRET, BAD_REFRESH, info["access_token"], info["refresh_token"]):
            self.assertNotIn(secret, text)
        self.assertIsNone(HEX64.search(text))

    def logged_sequence(self, name, extra, log_file=None):
        """The sequence against a gateway logging at DEBUG; returns (service, secrets used)."""
        svc = Service(self.service_args(name) + extra, log_file=log_file)
        try:
            secrets = self.sequence(svc)
        finally:
            self.assertEqual(svc.stop(), 0)
        return svc, secrets

    def test_debug_log_in_text_has_no_secrets(self):
        svc, secrets = self.logged_sequence("text", ["--log.format=text"])
        text = svc.log()
        self.assertIn("DEBUG", text)
        self.assertIn("-> POST", text)  # upstream requests are logged at DEBUG
        self.assertIn("token refresh of", text)  # the OAuth exchange too
        self.assert_no_secrets(text, secrets, "the text log")

    def test_debug_log_in_json_has_no_secrets(self):
        svc, secrets = self.logged_sequence("json", ["--log.format=json"])
        text = svc.log()
        levels = set()
        for line in text.splitlines():
            record = json.loads(line)  # every line is one JSON object
            self.assertEqual(set(record), {"time", "level", "message"}, line)
            levels.add(record["level"])
        self.assertIn("debug", {lvl.lower() for lvl in levels})
        self.assert_no_secrets(text, secrets, "the JSON log")

    def test_debug_log_in_a_rotated_file_has_no_secrets(self):
        path = os.path.join(self.tmp.name, "rotated", "gateway.log")
        os.makedirs(os.path.dirname(path))
        svc, secrets = self.logged_sequence("file", [f"--log.file={path}", "--log.max_size=4KiB",
                                                     "--log.max_files=3"], log_file=path)
        files = sorted(glob.glob(os.path.join(os.path.dirname(path), "*")))
        self.assertGreaterEqual(len(files), 2, files)  # rotated at least once
        self.assertLessEqual(len(files), 4, files)     # the file and at most max_files old ones
        self.assertEqual(svc.lines, [], "with log.file nothing goes to stdout")
        for f in files:
            self.assertLessEqual(os.path.getsize(f), 4 * 1024 + 4096, f)
            with open(f, errors="replace") as fh:
                self.assert_no_secrets(fh.read(), secrets, f)


class Proxy:
    """A TCP proxy to the database that the test can cut (existing connections too) and restore."""

    def __init__(self, port):
        self.upstream = ("127.0.0.1", port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.up = False
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.conns = []

    def restore(self):
        self.up = True

    def close(self):
        self.cut()
        self.listener.close()


class HealthTest(unittest.TestCase):
    def test_not_serving_while_the_store_is_unreachable(self):
        pg = os.environ.get("B24_TEST_POSTGRES")
        if not pg:
            self.skipTest("B24_TEST_POSTGRES is not set (tests/databases.sh sets it)")
        port = int(re.search(r"port=(\d+)", pg).group(1))
        proxy = Proxy(port)
        url = re.sub(r"port=\d+", f"port={proxy.port}", pg)
        table = f"health_{os.getpid()}"
        store = [f"--store.url={url}", f"--store.table={table}"]
        r = subprocess.run([SERVICE, "schema", "init", *store], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        svc = Service(store + ["--health.store_interval=100ms", "--health.store_timeout=2s"])
        try:
            self.assertEqual(svc.health(), "SERVING")
            proxy.cut()
            wait_for("NOT_SERVING", lambda: svc.health() == "NOT_SERVING")
            self.assertIn("the token store is unreachable", svc.log())
            self.assertNotIn("password", svc.log())
            proxy.restore()
            wait_for("SERVING again", lambda: svc.health() == "SERVING")
            self.assertIn("the token store answers again", svc.log())
        finally:
            self.assertEqual(svc.stop(), 0)
            proxy.close()

    def test_not_serving_during_the_shutdown_delay_then_drained(self):
        svc = Service(["--store.url=none", "--shutdown_delay=3s"])
        self.assertEqual(svc.health(), "SERVING")
        t0 = time.time()
        svc.proc.send_signal(signal.SIGTERM)
        # The port still answers during the delay, and says NOT_SERVING.
        wait_for("NOT_SERVING", lambda: svc.health() == "NOT_SERVING", 10)
        self.assertLess(time.time() - t0, 3)
        self.assertEqual(svc.proc.wait(30), 0)
        self.assertGreaterEqual(time.time() - t0, 3)
        self.assertIn("health is NOT_SERVING; accepting calls for 3s", svc.log())
        svc.proc.stdout.close()

    def test_a_webhook_only_gateway_has_no_store_and_stays_serving(self):
        emulator = Emulator()
        svc = Service(["--store.url=none", "--security.allow_loopback=true", "--security.allow_http=true",
                       "--webhooks.sandbox=" + emulator.info["webhook_url"], "--health.store_interval=100ms"])
        try:
            self.assertEqual(svc.health(), "SERVING")
            r = svc.b24ctl("call", "sandbox", "crm.deal.get", '{"id": 1}')
            self.assertEqual(r.returncode, 0, r.stderr)
            r = svc.b24ctl("install", "--client-id", CLIENT_ID, "--client-secret", "x", "--event", "--field",
                           "event=ONAPPINSTALL")
            self.assertEqual(r.returncode, 1)
            self.assertIn("no token store", r.stderr)
            self.assertEqual(svc.health(), "SERVING")
        finally:
            self.assertEqual(svc.stop(), 0)
            emulator.stop()


if __name__ == "__main__":
    B24CTL, SERVICE, EMULATOR = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
