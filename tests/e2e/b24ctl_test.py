#!/usr/bin/python3
"""b24ctl end to end: the real binary against the real service and the portal emulator.

Usage: b24ctl_test.py B24CTL SERVICE EMULATOR   (CTest passes the built binaries)

Covers the progress line on a terminal (a pseudo-terminal made with the pty module),
items only on stdout when piped, Ctrl-C (SIGINT) in the middle of an export and the
resume from the printed cursor, every exit status, --output json, install, portals,
health and --help of each command.
"""
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

B24CTL = SERVICE = EMULATOR = ""
CLIENT_ID, CLIENT_SECRET = "local.b24ctl.test", "b24ctl-secret"
DEALS = 10000
ALL_IDS = {str(i) for i in range(1, DEALS + 1)}
# The seeded deals only (other tests add deals).
SEEDED = json.dumps({"filter": {"<=ID": DEALS}})


class Stack:
    """b24-emulator (with the app installed) and bitrix24-service on ephemeral ports."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.emulator = subprocess.Popen(
            [EMULATOR, f"--deals={DEALS}", "--no-limits", "--deny-methods=crm.deal.delete",
             f"--client-id={CLIENT_ID}", f"--client-secret={CLIENT_SECRET}"],
            stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.emulator.stdout.readline())
        self.service = subprocess.Popen(
            [SERVICE, "--listen=127.0.0.1:0", "--security.allow_loopback=true", "--security.allow_http=true",
             "--webhooks.sandbox=" + self.info["webhook_url"], "--oauth.server=" + self.info["oauth_url"],
             "--limits.burst=1000", "--limits.drain_per_second=1000",
             f"--store.url=sqlite3://db={self.tmp.name}/tokens.db"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # the log is on stdout
        deadline = time.time() + 20
        self.target = None
        while self.target is None:
            if time.time() > deadline:
                raise RuntimeError("bitrix24-service did not report its port")
            line = self.service.stdout.readline()
            if not line:
                raise RuntimeError("bitrix24-service exited: " + str(self.service.wait()))
            m = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
            if m:
                self.target = m.group(1)
        threading.Thread(target=lambda: [None for _ in self.service.stdout], daemon=True).start()

    def fault(self, fault):
        req = urllib.request.Request(self.info["portal_url"] + "emulator/faults", data=json.dumps(fault).encode(),
                                     method="POST")
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def clear_faults(self):
        req = urllib.request.Request(self.info["portal_url"] + "emulator/faults", method="DELETE")
        urllib.request.urlopen(req).read()

    def stop(self):
        for p in (self.service, self.emulator):
            p.send_signal(signal.SIGTERM)
        for p in (self.service, self.emulator):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.tmp.cleanup()


STACK = None


def run(*args, stdin=None, timeout=60):
    """b24ctl with pipes for stdout and stderr."""
    return subprocess.run([B24CTL, "--target", STACK.target, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def read_all(fd, until_exit_of, timeout=60):
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            out += chunk
        elif until_exit_of.poll() is not None:
            break
    return out.decode(errors="replace")


def ids_of(lines):
    return [json.loads(line)["ID"] for line in lines if line]


class B24ctlTest(unittest.TestCase):
    def test_progress_on_a_terminal_items_on_the_pipe(self):
        master, slave = pty.openpty()
        p = subprocess.Popen([B24CTL, "--target", STACK.target, "getall", "sandbox", "crm.deal.list", SEEDED],
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        items = []
        reader = threading.Thread(target=lambda: items.extend(p.stdout.read().decode().splitlines()))
        reader.start()
        terminal = read_all(master, p)
        reader.join(60)
        p.stdout.close()
        self.assertEqual(p.wait(30), 0)
        os.close(master)
        ids = ids_of(items)
        self.assertEqual(len(ids), DEALS)
        self.assertEqual(set(ids), ALL_IDS)
        # The last progress line: items, items/s, elapsed, HTTP requests.
        final = terminal.strip().split("\r")[-1]
        self.assertRegex(final, r"10,000 items +[\d,]+ items/s +\d+:\d\d elapsed +\d+ HTTP requests")
        requests = int(re.search(r"(\d+) HTTP requests", final).group(1))
        self.assertGreaterEqual(requests, 4)  # 10,000 deals need at least four 2,500-item batches
        self.assertLessEqual(requests, 10)

    def test_everything_on_a_terminal_with_output_file(self):
        out = os.path.join(STACK.tmp.name, "deals.jsonl")
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(B24CTL, [B24CTL, "--target", STACK.target, "getall", "sandbox", "crm.deal.list", SEEDED, "-o", out])
        text = ""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            text += chunk.decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertIn("10,000 items", text)
        self.assertIn("HTTP requests", text)
        with open(out) as f:
            self.assertEqual(set(ids_of(f.read().splitlines())), ALL_IDS)

    def test_piped_prints_only_items_and_no_progress(self):
        r = run("getall", "sandbox", "crm.deal.list", '{"select": ["ID", "TITLE"]}', "--limit", "1234")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1234)
        for line in lines:
            self.assertEqual(set(json.loads(line)), {"ID", "TITLE"})

    def test_interrupt_prints_the_cursor_and_resume_completes_the_export(self):
        # Slow batches so that the export is surely in the middle when SIGINT comes.
        STACK.fault({"kind": "slow", "method": "batch", "delay_ms": 400, "count": 100})
        try:
            out = os.path.join(STACK.tmp.name, "part1.jsonl")
            p = subprocess.Popen([B24CTL, "--target", STACK.target, "getall", "sandbox", "crm.deal.list", SEEDED,
                                  "--parallel", "1", "-o", out], stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 30
            while time.time() < deadline:
                if os.path.exists(out) and os.path.getsize(out) > 0:
                    break
                time.sleep(0.05)
            time.sleep(0.3)
            p.send_signal(signal.SIGINT)
            err = p.stderr.read()
            p.stderr.close()
            self.assertEqual(p.wait(30), 130, err)
        finally:
            STACK.clear_faults()
        self.assertIn("interrupted after", err)
        m = re.search(r"resume with: b24ctl getall 'sandbox' crm\.deal\.list '(.*)' --resume (\S+)", err)
        self.assertIsNotNone(m, err)
        with open(out) as f:
            first = ids_of(f.read().splitlines())
        self.assertGreater(len(first), 0)
        self.assertLess(len(first), DEALS)
        self.assertEqual(json.loads(m.group(1)), json.loads(SEEDED))
        r = run("getall", "sandbox", "crm.deal.list", m.group(1), "--resume", m.group(2))
        self.assertEqual(r.returncode, 0, r.stderr)
        second = ids_of(r.stdout.splitlines())
        self.assertEqual(set(first) | set(second), ALL_IDS)
        self.assertLess(len(second), DEALS)  # it resumed, it did not start again

    def test_call_batch_and_json_output(self):
        r = run("call", "sandbox", "crm.deal.get", '{"id": 42}')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["result"]["ID"], "42")
        self.assertIn("\n  ", r.stdout)  # text mode pretty-prints
        r = run("--output", "json", "call", "sandbox", "crm.deal.list", '{"filter": {">ID": 9990}}')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("\n"), 1)
        env = json.loads(r.stdout)
        self.assertEqual(env["total"], 10)  # a number, not proto3 JSON's "10"
        commands = json.dumps([{"key": "a", "method": "crm.deal.get", "params": {"id": 7}},
                               {"key": "b", "method": "crm.deal.get", "params": {"id": "$result[a][ID]"}}])
        path = os.path.join(STACK.tmp.name, "commands.json")
        with open(path, "w") as f:
            f.write(commands)
        for arg, stdin in (("@" + path, None), ("-", commands)):
            r = run("batch", "sandbox", arg, "--output", "json", stdin=stdin)
            self.assertEqual(r.returncode, 0, r.stderr)
            results = json.loads(r.stdout)["results"]
            self.assertEqual([x["key"] for x in results], ["a", "b"])
            self.assertEqual(results[1]["result"]["ID"], "7")

    def test_exit_status_of_errors(self):
        r = run("call", "sandbox", "crm.deal.delete", '{"id": 1}')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("error: PERMISSION_DENIED ACCESS_DENIED: Bitrix24 ACCESS_DENIED from crm.deal.delete", r.stderr)
        r = run("--output", "json", "call", "sandbox", "crm.deal.delete", '{"id": 1}')
        err = json.loads(r.stderr)["error"]
        self.assertEqual((err["grpc_code"], err["code"], err["domain"], err["may_have_executed"]),
                         ("PERMISSION_DENIED", "ACCESS_DENIED", "bitrix24", False))
        # The portal sends an empty code for a missing deal: shown as nothing, never UNSPECIFIED.
        r = run("call", "sandbox", "crm.deal.get", '{"id": 99999999}')
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: NOT_FOUND: Bitrix24 error from crm.deal.get: Not found", r.stderr)
        self.assertNotIn("UNSPECIFIED", r.stderr)
        self.assertEqual(json.loads(run("--output", "json", "call", "sandbox", "crm.deal.get",
                                        '{"id": 99999999}').stderr)["error"]["code"], "")
        # A write whose connection dropped after the portal ran it.
        STACK.fault({"kind": "drop_after_execute", "method": "crm.deal.add"})
        r = run("call", "sandbox", "crm.deal.add", '{"fields": {"TITLE": "dropped"}}')
        self.assertEqual(r.returncode, 1)
        self.assertIn("may have been executed", r.stderr)
        # Limits and deadlines: 4.
        r = run("--timeout", "0.03", "call", "sandbox", "crm.deal.get", '{"id": 1}')  # < http.min_attempt_time
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("DEADLINE_BEFORE_SEND", r.stderr)
        r = run("--timeout", "0.0001", "call", "sandbox", "crm.deal.get", '{"id": 1}')
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("DEADLINE_EXCEEDED", r.stderr)
        # Usage: 2, before anything is sent.
        for args in (("call", "sandbox"), ("call", "sandbox", "crm.deal.get", "{bad"), ("bogus",),
                     ("--output", "yaml", "health"), ("getall", "sandbox", "crm.deal.list", "--parallel", "99"),
                     ("batch", "sandbox", "@/nonexistent/file")):
            r = run(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertNotEqual(r.stderr, "")
        # An unreachable gateway is an RPC error.
        r = subprocess.run([B24CTL, "--target", "127.0.0.1:1", "--timeout", "2", "health"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("UNAVAILABLE", r.stderr)

    def test_install_portals_reinstall_and_health(self):
        info = STACK.info
        domain = info["portal_url"][len("http://"):].rstrip("/")
        fields = {"event": "ONAPPINSTALL", "auth[access_token]": info["access_token"],
                  "auth[refresh_token]": info["refresh_token"], "auth[expires_in]": "3600",
                  "auth[member_id]": info["member_id"], "auth[domain]": domain,
                  "auth[client_endpoint]": info["portal_url"] + "rest/",
                  "auth[server_endpoint]": info["server_endpoint"],
                  "auth[application_token]": info["application_token"]}
        path = os.path.join(STACK.tmp.name, "install.json")
        with open(path, "w") as f:
            json.dump(fields, f)
        env = dict(os.environ, B24_CLIENT_SECRET=CLIENT_SECRET)
        r = subprocess.run([B24CTL, "--target", STACK.target, "install", "--client-id", CLIENT_ID, "--event",
                            "--fields", "@" + path], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(info["member_id"], r.stdout)
        self.assertNotIn(CLIENT_SECRET, r.stdout + r.stderr)
        r = run("call", info["member_id"], "crm.deal.get", '{"id": 3}')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("--output", "json", "portals", "list")
        kinds = {p["id"]: p["kind"] for p in json.loads(r.stdout)}
        self.assertEqual(kinds, {info["member_id"]: "oauth", "sandbox": "webhook"})
        r = run("portals", "show", domain)  # by domain: the first of the two
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("portals", "show", "no-such-portal")
        self.assertEqual(r.returncode, 1)
        # A portal whose refresh token is rejected: 3, the app must be reinstalled.
        bad = dict(fields, **{"auth[refresh_token]": "not-a-token", "auth[expires_in]": "1"})
        args = [B24CTL, "--target", STACK.target, "install", "--client-id", CLIENT_ID, "--event"]
        for k, v in bad.items():
            args += ["--field", f"{k}={v}"]
        r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(1.5)  # the stored access token expires (expires_in=1); the refresh is then refused
        r = run("call", info["member_id"], "crm.deal.get", '{"id": 3}')
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("must be reinstalled", r.stderr)
        r = run("portals", "remove", info["member_id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("portals", "remove", info["member_id"])
        self.assertEqual(r.returncode, 1)
        r = run("health")
        self.assertEqual((r.returncode, r.stdout), (0, "SERVING\n"))
        self.assertEqual(json.loads(run("--output", "json", "health").stdout), {"status": "SERVING"})

    def test_help_of_every_command(self):
        for cmd in ([], ["call"], ["batch"], ["getall"], ["install"], ["portals"], ["portals", "show"], ["health"]):
            r = subprocess.run([B24CTL, *cmd, "--help"], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, (cmd, r.stderr))
            self.assertIn("Usage", r.stdout)
        r = subprocess.run([B24CTL, "--help"], capture_output=True, text=True, timeout=30)
        self.assertIn("3 the portal must be reinstalled", r.stdout)


if __name__ == "__main__":
    B24CTL, SERVICE, EMULATOR = sys.argv[1:4]
    del sys.argv[1:4]
    STACK = Stack()
    try:
        unittest.main(verbosity=2)
    finally:
        STACK.stop()
