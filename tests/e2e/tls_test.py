#!/usr/bin/python3
"""TLS on the gRPC port, end to end, and the certificate reload on SIGHUP.

Usage: tls_test.py B24CTL SERVICE EMULATOR   (CTest passes the built binaries)

Certificates are made here with the openssl command: two CAs (A and B), a server certificate
from each for 127.0.0.1/localhost, a client certificate from A. Python's grpc (Debian's
python3-grpcio) checks which certificate a new handshake gets by trusting only one CA; b24ctl
(--ca-file) runs a GetAll stream across the reload.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import grpc

import harness
from harness import wait_for

B24CTL = SERVICE = EMULATOR = ""
DEALS = 10000


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=b24 test {name}", cwd=d)


def make_cert(d, name, ca, san):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Service(harness.Service):
    def __init__(self, args):
        super().__init__(SERVICE, args)


def health(target, ca, client=None):
    """SERVING/NOT_SERVING over a new TLS connection trusting only `ca`, or the gRPC error code."""
    kwargs = {"root_certificates": ca}
    if client:
        kwargs.update(private_key=client[0], certificate_chain=client[1])
    creds = grpc.ssl_channel_credentials(**kwargs)
    options = [("grpc.ssl_target_name_override", "localhost"), ("grpc.use_local_subchannel_pool", 1)]
    with grpc.secure_channel(target, creds, options=options) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        try:
            answer = check(b"", timeout=10)  # HealthCheckRequest{} → HealthCheckResponse{status}
        except grpc.RpcError as e:
            return e.code().name
    return {b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}.get(answer, repr(answer))


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.dir = cls.tmp.name
        make_ca(d, "caA")
        make_ca(d, "caB")
        make_cert(d, "serverA", "caA", "IP:127.0.0.1,DNS:localhost")
        make_cert(d, "serverB", "caB", "IP:127.0.0.1,DNS:localhost")
        make_cert(d, "client", "caA", "DNS:client")
        cls.caA, cls.caB = read(f"{d}/caA.pem"), read(f"{d}/caB.pem")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def install(self, name):
        """Makes serverA or serverB the live tls.cert_file/tls.key_file (as a secret mount would)."""
        for ext in ("pem", "key"):
            tmp = f"{self.dir}/live.{ext}.tmp"
            shutil.copy(f"{self.dir}/{name}.{ext}", tmp)
            os.replace(tmp, f"{self.dir}/live.{ext}")

    def test_reload_on_sighup_keeps_open_streams(self):
        emulator = subprocess.Popen([EMULATOR, f"--deals={DEALS}", "--no-limits", "--latency-ms=400"],
                                    stdout=subprocess.PIPE, text=True)
        info = json.loads(emulator.stdout.readline())
        self.install("serverA")
        svc = Service([f"--tls.cert_file={self.dir}/live.pem", f"--tls.key_file={self.dir}/live.key",
                       "--security.allow_loopback=true", "--security.allow_http=true",
                       "--store.url=none", "--webhooks.sandbox=" + info["webhook_url"]])
        try:
            self.assertEqual(health(svc.target, self.caA), "SERVING")
            self.assertEqual(health(svc.target, self.caB), "UNAVAILABLE")  # A is served, B is not trusted
            # Plaintext to a TLS port fails.
            with grpc.insecure_channel(svc.target) as channel:
                with self.assertRaises(grpc.RpcError):
                    channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)

            # A GetAll stream over a connection made with certificate A.
            out = os.path.join(self.dir, "deals.jsonl")
            export = subprocess.Popen([B24CTL, "--target", svc.target, "--ca-file", f"{self.dir}/caA.pem",
                                       "getall", "sandbox", "crm.deal.list", "{}", "-o", out],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_for("the first items", lambda: os.path.exists(out) and os.path.getsize(out) > 0)

            self.install("serverB")
            svc.proc.send_signal(signal.SIGHUP)
            wait_for("the reload", lambda: svc.find(r"(SIGHUP: TLS files reloaded)"))
            self.assertEqual(health(svc.target, self.caB), "SERVING")
            self.assertEqual(health(svc.target, self.caA), "UNAVAILABLE")
            self.assertIsNone(export.poll(), "the export should still be running across the reload")

            # Files that do not belong together are refused: B stays.
            shutil.copy(f"{self.dir}/serverA.key", f"{self.dir}/live.key")
            svc.proc.send_signal(signal.SIGHUP)
            wait_for("the refusal", lambda: svc.find(r"(still serving the previous certificate: .*is not the key)"))
            self.assertEqual(health(svc.target, self.caB), "SERVING")
            os.remove(f"{self.dir}/live.key")
            svc.proc.send_signal(signal.SIGHUP)
            wait_for("the second refusal", lambda: svc.find(r"(still serving the previous certificate: cannot read)"))
            self.assertEqual(health(svc.target, self.caB), "SERVING")

            stdout, stderr = export.communicate(timeout=120)
            self.assertEqual(export.returncode, 0, stderr)
            with open(out) as f:
                ids = {json.loads(line)["ID"] for line in f}
            self.assertEqual(len(ids), DEALS)  # every item, none twice: the stream was not dropped
        finally:
            self.assertEqual(svc.stop(), 0, svc.log())
            emulator.send_signal(signal.SIGTERM)
            emulator.wait(20)
            emulator.stdout.close()

    def test_mutual_tls_requires_a_client_certificate(self):
        svc = Service([f"--tls.cert_file={self.dir}/serverA.pem", f"--tls.key_file={self.dir}/serverA.key",
                       f"--tls.client_ca_file={self.dir}/caA.pem", "--store.url=none"])
        try:
            client = (read(f"{self.dir}/client.key"), read(f"{self.dir}/client.pem"))
            self.assertEqual(health(svc.target, self.caA, client), "SERVING")
            self.assertEqual(health(svc.target, self.caA), "UNAVAILABLE")  # no client certificate
            wrong = (read(f"{self.dir}/serverB.key"), read(f"{self.dir}/serverB.pem"))  # from CA B
            self.assertEqual(health(svc.target, self.caA, wrong), "UNAVAILABLE")
        finally:
            self.assertEqual(svc.stop(), 0, svc.log())

    def test_bad_files_stop_the_start_with_a_clear_message(self):
        cases = [
            ([f"--tls.cert_file={self.dir}/serverA.pem", f"--tls.key_file={self.dir}/serverB.key"], "is not the key"),
            ([f"--tls.cert_file={self.dir}/serverA.pem", f"--tls.key_file={self.dir}/missing.key"], "cannot read"),
            ([f"--tls.cert_file={self.dir}/serverA.key", f"--tls.key_file={self.dir}/serverA.key"],
             "holds no PEM certificate"),
        ]
        for args, message in cases:
            r = subprocess.run([SERVICE, "--listen=127.0.0.1:0", "--store.url=none", *args], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("cannot use the TLS files", r.stdout)
            self.assertIn(message, r.stdout)


if __name__ == "__main__":
    B24CTL, SERVICE, EMULATOR = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
