#!/usr/bin/env python3
"""lpmon-exporter's web side on 127.0.0.1, no BPF, on a fixture tree (tests/unit/fixtures):
what it refuses and what it holds up against. One case per run:

  auth          401 without credentials, with a wrong password and for an unknown user
  tls           plaintext HTTP to the TLS port gets no metrics; HTTPS does
  client_cert   with RequireAndVerifyClientCert: no certificate, or one from another CA, is
                refused; the right one is served
  slow_clients  /metrics is served while 100 clients (50 idle, 50 sending a byte at a time)
                hang on
  privileges    every thread of the exporter holds no capability beyond what it keeps and
                has no_new_privs (CivetWeb's worker threads included)

usage: web_test.py CASE LPMON_EXPORTER FIXTURE_TREE
Bounds here catch hangs only (60 s for an answer); nothing is timed.
"""
import base64
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # Debian 12's Python 3.11 has it
    import crypt
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HANG = 60  # seconds: an answer that takes this long is a hang, not slowness
CAP_DAC_READ_SEARCH = 2

failures = []


def ok(what):
    print(f"ok: {what}")


def fail(what):
    print(f"FAIL: {what}")
    failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(work, name):
    key, crt = f"{work}/{name}-ca.key", f"{work}/{name}-ca.crt"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
            f"/CN={name} test CA", "-keyout", key, "-out", crt)
    return key, crt


def make_cert(work, name, ca, server=False):
    key, csr, crt = f"{work}/{name}.key", f"{work}/{name}.csr", f"{work}/{name}.crt"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", key,
            "-out", csr)
    ext = f"{work}/{name}.ext"
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n" if server else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
            "-days", "1", "-out", crt, "-extfile", ext)
    return key, crt


class Exporter:
    def __init__(self, binary, tree, work, web_yml=None):
        self.port = free_port()
        args = [binary, "--no-bpf", "--web.listen-address", f"127.0.0.1:{self.port}",
                "--sysfs-root", f"{tree}/sys", "--procfs-root", f"{tree}/proc"]
        if web_yml:
            path = f"{work}/web.yml"
            with open(path, "w") as f:
                f.write(web_yml)
            args += ["--web.config.file", path]
        self.log = open(f"{work}/exporter.log", "w+")
        self.proc = subprocess.Popen(args, stderr=self.log, cwd=work)
        deadline = time.monotonic() + HANG
        while "serving /metrics" not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"lpmon-exporter did not start:\n{self.log_text()}")
            time.sleep(0.05)

    def log_text(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(HANG)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def get(port, user=None, password=None, context=None):
    """(status, body) of GET /metrics."""
    conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=HANG, context=context)
            if context else http.client.HTTPConnection("127.0.0.1", port, timeout=HANG))
    headers = {}
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def bcrypt(password):
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))


def case_auth(binary, tree, work):
    exporter = Exporter(binary, tree, work,
                        f"basic_auth_users:\n  prometheus: {bcrypt('right')}\n")
    try:
        for what, user, password in [("no credentials", None, None),
                                     ("a wrong password", "prometheus", "wrong"),
                                     ("an empty password", "prometheus", ""),
                                     ("an unknown user", "nobody", "right")]:
            status, body = get(exporter.port, user, password)
            if status == 401 and "lpmon_" not in body:
                ok(f"{what}: 401, no metrics")
            else:
                fail(f"{what}: status {status}, expected 401")
        status, body = get(exporter.port, "prometheus", "right")
        if status == 200 and "lpmon_patch_enabled" in body:
            ok("the right credentials: 200 with metrics")
        else:
            fail(f"the right credentials: status {status}")
    finally:
        exporter.stop()


def server_tls(work, client_ca=None):
    ca = make_ca(work, "server")
    key, crt = make_cert(work, "exporter", ca, server=True)
    yml = f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n"
    if client_ca:
        yml += f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {client_ca}\n"
    return ca, yml


def case_tls(binary, tree, work):
    ca, yml = server_tls(work)
    yml += f"basic_auth_users:\n  prometheus: {bcrypt('right')}\n"
    exporter = Exporter(binary, tree, work, yml)
    try:
        # Plaintext to the TLS port: whatever comes back, never the metrics.
        try:
            status, body = get(exporter.port, "prometheus", "right")
            if "lpmon_" in body or status == 200:
                fail(f"plaintext HTTP was served: status {status}")
            else:
                ok(f"plaintext HTTP: status {status}, no metrics")
        except (OSError, http.client.HTTPException) as e:
            ok(f"plaintext HTTP refused ({type(e).__name__})")
        context = ssl.create_default_context(cafile=ca[1])
        status, body = get(exporter.port, "prometheus", "right", context)
        if status == 200 and "lpmon_patch_enabled" in body:
            ok("HTTPS with the right credentials: 200 with metrics")
        else:
            fail(f"HTTPS: status {status}")
        status, _ = get(exporter.port, "prometheus", "wrong", context)
        if status == 401:
            ok("HTTPS with a wrong password: 401")
        else:
            fail(f"HTTPS with a wrong password: status {status}")
    finally:
        exporter.stop()


def case_client_cert(binary, tree, work):
    client_ca = make_ca(work, "clients")
    good = make_cert(work, "prometheus", client_ca)
    other_ca = make_ca(work, "other")
    rogue = make_cert(work, "rogue", other_ca)
    ca, yml = server_tls(work, client_ca=client_ca[1])
    exporter = Exporter(binary, tree, work, yml)

    def attempt(cert):
        context = ssl.create_default_context(cafile=ca[1])
        if cert:
            context.load_cert_chain(cert[1], cert[0])
        return get(exporter.port, context=context)

    try:
        for what, cert in [("no client certificate", None),
                           ("a certificate from another CA", rogue)]:
            try:
                status, body = attempt(cert)
                if status == 200 or "lpmon_" in body:
                    fail(f"{what}: served, status {status}")
                else:
                    ok(f"{what}: status {status}, no metrics")
            except (OSError, http.client.HTTPException) as e:
                ok(f"{what}: refused ({type(e).__name__}: {e})")
        status, body = attempt(good)
        if status == 200 and "lpmon_patch_enabled" in body:
            ok("the client certificate of the configured CA: 200 with metrics")
        else:
            fail(f"the right client certificate: status {status}")
    finally:
        exporter.stop()


def case_slow_clients(binary, tree, work):
    exporter = Exporter(binary, tree, work)
    stop = threading.Event()
    sockets = []
    try:
        for _ in range(50):  # idle: connect and say nothing
            sockets.append(socket.create_connection(("127.0.0.1", exporter.port), timeout=HANG))
        slow = [socket.create_connection(("127.0.0.1", exporter.port), timeout=HANG)
                for _ in range(50)]
        sockets += slow

        def drip():  # a request, one byte at a time, never finished
            request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10000
            for i in range(len(request)):
                for s in slow:
                    try:
                        s.send(request[i:i + 1])
                    except OSError:
                        pass
                if stop.wait(0.5):
                    return

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        ok(f"{len(sockets)} clients connected and hanging on (50 idle, 50 slow)")
        for i in range(3):
            try:
                status, body = get(exporter.port)
            except (OSError, http.client.HTTPException) as e:
                fail(f"scrape {i + 1} beside the slow clients: {type(e).__name__}: {e}")
                continue
            if status == 200 and "lpmon_patch_enabled" in body:
                ok(f"scrape {i + 1} served beside the slow clients")
            else:
                fail(f"scrape {i + 1}: status {status}")
    finally:
        stop.set()
        for s in sockets:
            s.close()
        exporter.stop()


def thread_status(pid):
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = {}
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    fields[key] = value.strip()
        except FileNotFoundError:
            continue
        threads[tid] = fields
    return threads


def case_privileges(binary, tree, work):
    exporter = Exporter(binary, tree, work)
    try:
        get(exporter.port)  # CivetWeb's workers have served
        threads = thread_status(exporter.proc.pid)
        if len(threads) < 3:
            fail(f"only {len(threads)} threads: expected CivetWeb's too")
        allowed = 1 << CAP_DAC_READ_SEARCH
        root = os.geteuid() == 0
        for tid, f in sorted(threads.items()):
            held = 0
            sets = ["CapEff", "CapPrm", "CapInh", "CapAmb"] + (["CapBnd"] if root else [])
            for key in sets:
                held |= int(f.get(key, "ffffffffffffffff"), 16)
            what = f"thread {tid} ({f.get('Name')})"
            if held & ~allowed:
                fail(f"{what} holds {held:#x} in {'/'.join(sets)}, beyond {allowed:#x}")
            elif f.get("NoNewPrivs") != "1":
                fail(f"{what}: NoNewPrivs {f.get('NoNewPrivs')}")
            else:
                ok(f"{what}: CapEff {f['CapEff']}, CapBnd {f['CapBnd']}, NoNewPrivs 1")
    finally:
        exporter.stop()


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    case, binary, tree = sys.argv[1:]
    cases = {"auth": case_auth, "tls": case_tls, "client_cert": case_client_cert,
             "slow_clients": case_slow_clients, "privileges": case_privileges}
    with tempfile.TemporaryDirectory(prefix="lpmon-web-") as work:
        cases[case](os.path.abspath(binary), os.path.abspath(tree), work)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
