"""Fixtures for the integration tests: real server processes on real sockets.

TFN_BUILD names the build folder whose binaries are tested (build/ or build-san/). Every server a
test starts is stopped with SIGTERM at the end and must exit 0 — under the sanitizer build that
also proves it leaked nothing and tripped no sanitizer.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("TFN_BUILD", "build"))
TESTSVC = os.path.join(BUILD, "tests", "integration", "testsvc")
HELLO = os.path.join(BUILD, "examples", "hello")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


class Server:
    """One server process. Use start(), then request()/post(), then stop()."""

    def __init__(self, binary, *args, env=None, unix=None, tcp=True):
        self.binary = binary
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.unix = unix
        self.tcp = tcp
        self.port = None
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="tiffin-", suffix=".log", delete=False)

    def start(self, wait_ready=True):
        cmd = [self.binary, "serve"]
        if self.tcp:
            cmd += ["--host", "127.0.0.1", "--port", "0"]
        if self.unix:
            cmd += ["--unix", self.unix]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, env=self.env)
        line = self.proc.stdout.readline().decode()
        if self.tcp:
            assert "listening on http://127.0.0.1:" in line, (line, self.stderr())
            self.port = int(line.rsplit(":", 1)[1])
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get("/readyz").status == 200:
                return
            time.sleep(0.02)
        raise AssertionError("server did not become ready:\n" + self.stderr())

    def connection(self, timeout=10):
        if self.tcp:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        return UnixHTTPConnection(self.unix, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, api, obj=None, raw=None, content_type="application/json", headers=None,
             timeout=10):
        body = raw if raw is not None else json.dumps(obj if obj is not None else {})
        h = {"Content-Type": content_type} if content_type else {}
        h.update(headers or {})
        return self.request("POST", "/" + api, body=body, headers=h, timeout=timeout)

    def raw(self, data, timeout=5):
        """Sends raw bytes on a fresh TCP connection; returns everything read until EOF."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        return b"".join(chunks)

    def stderr(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not stop within %ss:\n%s" % (timeout, self.stderr()))
        self.proc.stdout.close()
        return rc

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        if not self.log.closed:
            self.log.close()
            os.unlink(self.log.name)


@pytest.fixture
def make_server():
    """Factory: make_server(binary, *args, env=..., unix=..., tcp=...) -> started Server.
    Every server must exit 0 on SIGTERM at teardown (unless the test stopped it itself)."""
    servers = []

    def make(binary=TESTSVC, *args, start=True, wait_ready=True, **kw):
        s = Server(binary, *args, **kw)
        servers.append(s)
        if start:
            s.start(wait_ready=wait_ready)
        return s

    yield make
    errors = []
    for s in servers:
        if s.proc and s.proc.poll() is None:
            rc = s.stop()
            if rc != 0:
                errors.append("%s exited %d:\n%s" % (s.binary, rc, s.stderr()))
        s.close()
    assert not errors, "\n".join(errors)


@pytest.fixture
def svc(make_server):
    """A started TestSvc on a free TCP port."""
    return make_server(TESTSVC)


@pytest.fixture
def hello(make_server):
    """The hello example service."""
    return make_server(HELLO)
